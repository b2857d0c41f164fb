"""Operations: hourly and daily rollups, energy from meter registers, thresholds, alarms, retention.

- ``substation_hourly``: per device and hour, averages of good values, peak power and the sums for a
  flow-weighted return temperature; a continuous aggregate in the community edition, the project's
  own table and refresh job otherwise.
- ``energy_hourly``: energy and volume per device and hour from the meter registers (differences of
  consecutive good readings, rollover-safe with the register capacity) — always the project's own
  table, because window functions are not allowed in continuous aggregates.
- ``substation_daily``: per device and Europe/Paris day, from the two hourly tables.
- Raw samples are kept 730 days by default (delivery-point load curves are personal data under
  GDPR/CNIL: keep them no longer than billing disputes and operations need); rollups are kept.
"""

from __future__ import annotations

import psycopg

from regie_chaleur.db.capabilities import Capabilities
from regie_chaleur.db.timescale import RollupSpec, create_rollup, set_retention


def _good_avg(q: str) -> str:
    return f"avg({q}) FILTER (WHERE {q}_q = 0)"


#: the hourly rollup as it was when this migration was written (a migration never reads live code)
HOURLY = RollupSpec(
    name="substation_hourly", source="substation_samples", time_column="time", width="1 hour",
    group_by=("device_id",),
    aggregates=(
        ("samples", "count(*)"),
        ("t_supply_primary", _good_avg("t_supply_primary")),
        ("t_return_primary", _good_avg("t_return_primary")),
        ("t_supply_secondary", _good_avg("t_supply_secondary")),
        ("t_return_secondary", _good_avg("t_return_secondary")),
        ("t_outdoor", _good_avg("t_outdoor")),
        ("t_outdoor_min", "min(t_outdoor) FILTER (WHERE t_outdoor_q = 0)"),
        ("t_outdoor_max", "max(t_outdoor) FILTER (WHERE t_outdoor_q = 0)"),
        ("flow", _good_avg("flow")),
        ("power_avg", _good_avg("power")),
        ("power_max", "max(power) FILTER (WHERE power_q = 0)"),
        ("valve_position", _good_avg("valve_position")),
        ("flow_x_return", "sum(flow * t_return_primary) FILTER (WHERE flow_q = 0 AND t_return_primary_q = 0)"),
        ("flow_for_return", "sum(flow) FILTER (WHERE flow_q = 0 AND t_return_primary_q = 0)"),
    ),
    refresh_lookback="2 days",
)
HOURLY_TYPES = {"device_id": "bigint", "samples": "bigint",
                **{name: "double precision" for name, _ in HOURLY.aggregates if name != "samples"}}

RULES = ("comm_lost", "frozen_sensor", "out_of_range", "meter_error", "counter_backwards", "return_too_high",
         "delta_t_too_low", "power_above_subscribed", "night_flow", "signature_anomaly")


def apply(cur: psycopg.Cursor, caps: Capabilities) -> None:
    create_rollup(cur, caps, HOURLY, HOURLY_TYPES)
    rules = ", ".join(f"'{r}'" for r in RULES)
    cur.execute(f"""
        CREATE TABLE energy_hourly (
            device_id  bigint NOT NULL,
            bucket     timestamptz NOT NULL,
            energy_kwh double precision NOT NULL,
            volume_m3  double precision,
            readings   integer NOT NULL,
            PRIMARY KEY (device_id, bucket)
        );
        CREATE TABLE substation_daily (
            device_id      bigint NOT NULL,
            day            date NOT NULL,
            energy_kwh     double precision,
            volume_m3      double precision,
            power_avg_kw   double precision,
            power_max_kw   double precision,
            t_supply_avg   double precision,
            t_return_fw    double precision,
            t_outdoor_avg  double precision,
            t_outdoor_min  double precision,
            t_outdoor_max  double precision,
            hours          integer NOT NULL,
            PRIMARY KEY (device_id, day)
        );
        CREATE TABLE rollup_state (
            name            text PRIMARY KEY,
            refreshed_until timestamptz NOT NULL
        );
        ALTER TABLE delivery_points ADD COLUMN subscribed_power_kw numeric(10, 1) CHECK (subscribed_power_kw > 0);
        CREATE TABLE alarm_thresholds (
            id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            substation_id bigint REFERENCES substations (id),
            rule          text NOT NULL CHECK (rule IN ({rules})),
            params        jsonb NOT NULL,
            UNIQUE NULLS NOT DISTINCT (substation_id, rule)
        );
        CREATE TABLE alarms (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            substation_id   bigint REFERENCES substations (id),
            device_id       bigint REFERENCES devices (id),
            rule            text NOT NULL CHECK (rule IN ({rules})),
            severity        text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
            state           text NOT NULL CHECK (state IN ('raised', 'acknowledged', 'cleared')),
            message         text NOT NULL,
            value           double precision,
            threshold       double precision,
            raised_at       timestamptz NOT NULL,
            last_seen_at    timestamptz NOT NULL,
            acknowledged_at timestamptz,
            acknowledged_by text,
            ack_comment     text,
            cleared_at      timestamptz,
            cleared_by      text
        );
        CREATE UNIQUE INDEX alarms_one_open ON alarms (coalesce(device_id, -1), coalesce(substation_id, -1), rule)
            WHERE state <> 'cleared';
        CREATE INDEX alarms_state_idx ON alarms (state, raised_at DESC);
        CREATE TABLE alarm_events (
            id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            alarm_id bigint NOT NULL REFERENCES alarms (id),
            at       timestamptz NOT NULL,
            event    text NOT NULL CHECK (event IN ('raised', 'acknowledged', 'cleared', 'notified')),
            by_whom  text,
            comment  text
        );
    """)
    set_retention(cur, caps, "substation_samples", "730 days")
    set_retention(cur, caps, "device_samples", "730 days")
