"""Operations numbers an engineer can sign: flow-weighted sums per hour (supply, return, ΔT) in a rollup of
their own, the daily table's sums for combining several meters, the volume register's capacity, the
hours written (late data is rolled up when it arrives), and ranges waiting for a refresh.

The rollup ``flows_hourly`` is new rather than columns added to ``substation_hourly``: a continuous
aggregate cannot gain columns, and dropping it would lose what it summarised beyond the raw retention.
Every range of raw samples present when this migration runs is queued in ``rollup_pending``; the
scheduler rolls it up (a continuous aggregate cannot be refreshed inside a migration's transaction).
"""

from __future__ import annotations

import psycopg

from regie_chaleur.db.capabilities import Capabilities
from regie_chaleur.db.timescale import RollupSpec, create_rollup

_ALL_GOOD = "flow_q = 0 AND t_supply_primary_q = 0 AND t_return_primary_q = 0"

#: the flow-weighted sums as they were when this migration was written (a migration never reads live code)
FLOWS = RollupSpec(
    name="flows_hourly", source="substation_samples", time_column="time", width="1 hour",
    group_by=("device_id",),
    aggregates=(
        ("flow_x_supply", "sum(flow * t_supply_primary) FILTER (WHERE flow_q = 0 AND t_supply_primary_q = 0)"),
        ("flow_for_supply", "sum(flow) FILTER (WHERE flow_q = 0 AND t_supply_primary_q = 0)"),
        ("flow_x_delta", f"sum(flow * (t_supply_primary - t_return_primary)) FILTER (WHERE {_ALL_GOOD})"),
        ("flow_for_delta", f"sum(flow) FILTER (WHERE {_ALL_GOOD})"),
    ),
    refresh_lookback="2 days",
)
FLOWS_TYPES = {"device_id": "bigint", **{name: "double precision" for name, _ in FLOWS.aggregates}}


def apply(cur: psycopg.Cursor, caps: Capabilities) -> None:
    create_rollup(cur, caps, FLOWS, FLOWS_TYPES)
    kind = cur.execute("SELECT kind FROM rollups WHERE name = 'flows_hourly'").fetchone()
    if kind is not None and kind[0] == "table":
        cur.execute("CREATE INDEX IF NOT EXISTS flows_hourly_bucket_idx ON flows_hourly (bucket)")
    cur.execute("""
        ALTER TABLE energy_hourly ALTER COLUMN energy_kwh DROP NOT NULL;  -- an hour may have volume alone
        ALTER TABLE meters ADD COLUMN volume_capacity_m3 numeric(20, 3) CHECK (volume_capacity_m3 > 0);
        COMMENT ON COLUMN meters.register_capacity_kwh IS 'value [kWh] at which the energy register rolls over';
        COMMENT ON COLUMN meters.volume_capacity_m3 IS 'value [m³] at which the volume register rolls over';
        ALTER TABLE substation_daily
            ADD COLUMN t_supply_fw      double precision,
            ADD COLUMN delta_t_fw       double precision,
            ADD COLUMN flow_x_supply    double precision,
            ADD COLUMN flow_for_supply  double precision,
            ADD COLUMN flow_x_return    double precision,
            ADD COLUMN flow_for_return  double precision,
            ADD COLUMN flow_x_delta     double precision,
            ADD COLUMN flow_for_delta   double precision;
        COMMENT ON COLUMN substation_daily.delta_t_fw IS
          'flow-weighted primary ΔT [K]: Σ q·(Ts − Tr) / Σ q over the samples with flow, supply and return good';
        CREATE TABLE ingested_hours (
            bucket     timestamptz PRIMARY KEY,
            written_at timestamptz NOT NULL
        );
        COMMENT ON TABLE ingested_hours IS
          'Hours of substation_samples touched by a write, and when: the rollups follow what was written.';
        CREATE INDEX ingested_hours_written_idx ON ingested_hours (written_at);
        CREATE TABLE rollup_pending (
            id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            lo           timestamptz NOT NULL,
            hi           timestamptz NOT NULL CHECK (hi > lo),
            reason       text NOT NULL,
            requested_at timestamptz NOT NULL DEFAULT now()
        );
    """)
    cur.execute("""
        INSERT INTO rollup_pending (lo, hi, reason)
        SELECT min(time), max(time) + interval '1 hour', 'flow-weighted rollups and daily sums (migration 13)'
        FROM substation_samples HAVING min(time) IS NOT NULL
    """)
