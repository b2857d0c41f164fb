"""Hourly and daily rollups of the substation samples, kept fresh from what was written.

- ``substation_hourly`` and ``flows_hourly`` are :class:`RollupSpec` (continuous aggregates or own
  tables by edition): means of good values, peak power, and the flow-weighted sums (Σ q·Ts, Σ q·Tr,
  Σ q·(Ts − Tr) with their Σ q) that make every flow-weighted temperature and ΔT exact when hours,
  days and meters are combined.
- ``energy_hourly``: energy and volume from the meter's registers, each on its own quality flag: the
  differences of consecutive readings that are good or flagged as a rollover, a step that wrapped
  counted ``value + capacity − previous``. A wrap is recognised from the values themselves (a drop of
  more than half the capacity), not only from the collector's flag, whose counter state is lost when
  it restarts. The capacities are the registry's (filled from the device's profile when the registry
  has none). Each hour's energy is what the register advanced between the last reading before the
  hour's readings and its last reading, so hours add up exactly to register differences.
- ``substation_daily``: per device and Europe/Paris day, from the hourly tables, with the sums.

Refreshing follows what was written (``ingested_hours``, marked by the telemetry writer) and the
ranges queued in ``rollup_pending`` (a migration, or ``regie-chaleur db refresh-rollups``), not the
clock: a collector replaying a week-old buffer gets its hours rolled up when they arrive.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

from regie_chaleur.db.timescale import BUCKET_ORIGIN, RollupSpec, refresh_rollup

PARIS = "Europe/Paris"
INGEST_OVERLAP = timedelta(minutes=10)  # a write's mark carries its transaction's start: look back this far
NEXT_READING_WITHIN = timedelta(days=31)  # how far past a refreshed range the next reading is looked for


def _good_avg(column: str) -> str:
    return f"avg({column}) FILTER (WHERE {column}_q = 0)"


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
)
ALL_GOOD = "flow_q = 0 AND t_supply_primary_q = 0 AND t_return_primary_q = 0"
FLOWS = RollupSpec(
    name="flows_hourly", source="substation_samples", time_column="time", width="1 hour",
    group_by=("device_id",),
    aggregates=(
        ("flow_x_supply", "sum(flow * t_supply_primary) FILTER (WHERE flow_q = 0 AND t_supply_primary_q = 0)"),
        ("flow_for_supply", "sum(flow) FILTER (WHERE flow_q = 0 AND t_supply_primary_q = 0)"),
        ("flow_x_delta", f"sum(flow * (t_supply_primary - t_return_primary)) FILTER (WHERE {ALL_GOOD})"),
        ("flow_for_delta", f"sum(flow) FILTER (WHERE {ALL_GOOD})"),
    ),
    refresh_lookback="2 days",
)


def _register_steps(quantity: str, capacity: str) -> str:
    """SQL: per device and hour, the register advance of ``quantity`` in [lo, hi) and the readings used."""
    step = ("CASE WHEN prev IS NULL THEN 0 WHEN value >= prev THEN value - prev "
            "WHEN cap IS NOT NULL AND (q = 4 OR prev - value > cap / 2) THEN value + cap - prev ELSE 0 END")
    return f"""
    SELECT device_id, date_bin('1 hour', time, '{BUCKET_ORIGIN}'::timestamptz) AS bucket, sum(step) AS advance,
           count(*) AS readings
    FROM (
        SELECT r.device_id, r.time, {step} AS step
        FROM (
            SELECT device_id, time, {quantity} AS value, {quantity}_q AS q,
                   lag({quantity}) OVER (PARTITION BY device_id ORDER BY time) AS prev
            FROM (
                SELECT device_id, time, {quantity}, {quantity}_q FROM substation_samples
                WHERE time >= %(lo)s AND time < %(hi)s AND {quantity} IS NOT NULL AND {quantity}_q IN (0, 4)
                UNION ALL  -- each device's last usable reading before the window (an index probe per device)
                SELECT d.id, s.time, s.{quantity}, 0 FROM devices d CROSS JOIN LATERAL (
                    SELECT time, {quantity} FROM substation_samples
                    WHERE device_id = d.id AND time < %(lo)s AND time >= %(lo)s - interval '400 days'
                      AND {quantity} IS NOT NULL AND {quantity}_q IN (0, 4)
                    ORDER BY time DESC LIMIT 1) s
            ) readings
        ) r
        LEFT JOIN (SELECT device_id, {capacity}::float8 AS cap FROM meters WHERE device_id IS NOT NULL) m
               ON m.device_id = r.device_id
        WHERE r.time >= %(lo)s
    ) steps
    GROUP BY 1, 2"""


ENERGY_SQL = f"""
WITH e AS ({_register_steps("energy", "register_capacity_kwh")}),
     v AS ({_register_steps("volume", "volume_capacity_m3")})
SELECT coalesce(e.device_id, v.device_id), coalesce(e.bucket, v.bucket), e.advance, v.advance,
       greatest(coalesce(e.readings, 0), coalesce(v.readings, 0))
FROM e FULL JOIN v ON v.device_id = e.device_id AND v.bucket = e.bucket
"""

DAILY_SQL = f"""
SELECT h.device_id, (h.bucket AT TIME ZONE '{PARIS}')::date AS day,
       sum(e.energy_kwh), sum(e.volume_m3), avg(h.power_avg), max(h.power_max), avg(h.t_supply_primary),
       sum(h.flow_x_return) / nullif(sum(h.flow_for_return), 0),
       avg(h.t_outdoor), min(h.t_outdoor_min), max(h.t_outdoor_max), count(*),
       sum(f.flow_x_supply) / nullif(sum(f.flow_for_supply), 0),
       sum(f.flow_x_delta) / nullif(sum(f.flow_for_delta), 0),
       sum(f.flow_x_supply), sum(f.flow_for_supply), sum(h.flow_x_return), sum(h.flow_for_return),
       sum(f.flow_x_delta), sum(f.flow_for_delta)
FROM substation_hourly h
LEFT JOIN energy_hourly e ON e.device_id = h.device_id AND e.bucket = h.bucket
LEFT JOIN flows_hourly f ON f.device_id = h.device_id AND f.bucket = h.bucket
WHERE h.bucket >= %(lo)s AND h.bucket < %(hi)s
GROUP BY 1, 2
"""
DAILY_COLUMNS = ("device_id, day, energy_kwh, volume_m3, power_avg_kw, power_max_kw, t_supply_avg, t_return_fw, "
                 "t_outdoor_avg, t_outdoor_min, t_outdoor_max, hours, t_supply_fw, delta_t_fw, flow_x_supply, "
                 "flow_for_supply, flow_x_return, flow_for_return, flow_x_delta, flow_for_delta")


def _hour_floor(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def _hours(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The whole hours covering [start, end)."""
    return _hour_floor(start), _hour_floor(end) + (timedelta(hours=1) if end != _hour_floor(end) else timedelta())


def refresh_energy(conn: psycopg.Connection, start: datetime, end: datetime) -> int:
    """Recompute ``energy_hourly`` for the whole hours in [start, end); returns rows written."""
    lo, hi = _hours(start, end)
    with conn.transaction():
        conn.execute("DELETE FROM energy_hourly WHERE bucket >= %(lo)s AND bucket < %(hi)s", {"lo": lo, "hi": hi})
        cur = conn.execute("INSERT INTO energy_hourly (device_id, bucket, energy_kwh, volume_m3, readings) "
                           + ENERGY_SQL, {"lo": lo, "hi": hi})
        return cur.rowcount


def paris_day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """UTC instants bounding the Europe/Paris days first..last (inclusive), DST-safe."""
    tz = ZoneInfo(PARIS)
    lo = datetime(first.year, first.month, first.day, tzinfo=tz)
    after = last + timedelta(days=1)
    hi = datetime(after.year, after.month, after.day, tzinfo=tz)
    return lo, hi


def refresh_daily(conn: psycopg.Connection, first: date, last: date) -> int:
    """Recompute ``substation_daily`` for the Europe/Paris days first..last from the hourly tables."""
    lo, hi = paris_day_bounds(first, last)
    with conn.transaction():
        conn.execute("DELETE FROM substation_daily WHERE day >= %s AND day <= %s", (first, last))
        cur = conn.execute(f"INSERT INTO substation_daily ({DAILY_COLUMNS}) " + DAILY_SQL, {"lo": lo, "hi": hi})
        return cur.rowcount


def _next_readings_end(conn: psycopg.Connection, hi: datetime) -> datetime:
    """The end of the first hour with readings after ``hi``, for every device that has one: its energy was
    counted from the last reading before it, which a refresh of the hours before may have changed."""
    row = conn.execute("SELECT max(first) FROM (SELECT min(bucket) AS first FROM energy_hourly "
                       "WHERE bucket >= %s AND bucket < %s GROUP BY device_id) x",
                       (hi, hi + NEXT_READING_WITHIN)).fetchone()
    return max(hi, row[0] + timedelta(hours=1)) if row and row[0] is not None else hi


def refresh_operations(conn: psycopg.Connection, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """Refresh every operations rollup over [start, end) (and the hour after it whose energy depends on
    it), then the Europe/Paris days they touch; returns the range refreshed."""
    lo, hi = _hours(start, end)
    hi_energy = _next_readings_end(conn, hi)
    refresh_rollup(conn, HOURLY.name, lo, hi_energy)
    refresh_rollup(conn, FLOWS.name, lo, hi_energy)
    refresh_energy(conn, lo, hi_energy)
    tz = ZoneInfo(PARIS)
    refresh_daily(conn, lo.astimezone(tz).date(), (hi_energy - timedelta(microseconds=1)).astimezone(tz).date())
    conn.execute("INSERT INTO rollup_state (name, refreshed_until) VALUES ('operations', %s) "
                 "ON CONFLICT (name) DO UPDATE SET refreshed_until = greatest(rollup_state.refreshed_until, "
                 "EXCLUDED.refreshed_until)", (hi_energy,))
    return lo, hi_energy


def queue_refresh(conn: psycopg.Connection, start: datetime, end: datetime, reason: str) -> None:
    """Ask the scheduler to roll [start, end) up again at its next pass."""
    conn.execute("INSERT INTO rollup_pending (lo, hi, reason) VALUES (%s, %s, %s)", (start, end, reason))


def refresh_written(conn: psycopg.Connection) -> list[tuple[datetime, datetime]]:
    """Roll up the hours written since the last pass and the queued ranges; returns the ranges refreshed.

    The hours come from ``ingested_hours`` (marked by every write, whatever the samples' age), contiguous
    hours merged into one range; the watermark is the latest write seen, looked back
    :data:`INGEST_OVERLAP` so a write committed late is not missed.
    """
    row = conn.execute("SELECT refreshed_until FROM rollup_state WHERE name = 'ingest'").fetchone()
    since = row[0] - INGEST_OVERLAP if row else datetime.min.replace(tzinfo=ZoneInfo("UTC"))
    written = conn.execute("SELECT bucket, written_at FROM ingested_hours WHERE written_at > %s ORDER BY bucket",
                           (since,)).fetchall()
    pending = conn.execute("SELECT id, lo, hi FROM rollup_pending ORDER BY lo").fetchall()
    ranges = sorted([(b, b + timedelta(hours=1)) for b, _ in written] + [(lo, hi) for _, lo, hi in pending])
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in ranges:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    done = [refresh_operations(conn, lo, hi) for lo, hi in merged]
    if pending:
        conn.execute("DELETE FROM rollup_pending WHERE id = ANY(%s)", ([p[0] for p in pending],))
    if written:
        latest = max(w for _, w in written)
        conn.execute("INSERT INTO rollup_state (name, refreshed_until) VALUES ('ingest', %s) ON CONFLICT (name) "
                     "DO UPDATE SET refreshed_until = greatest(rollup_state.refreshed_until, EXCLUDED.refreshed_until)",
                     (latest,))
    return done
