"""Hourly and daily rollups of the substation samples, kept fresh incrementally.

``substation_hourly`` is a :class:`RollupSpec` (continuous aggregate or own table by edition).
``energy_hourly`` and ``substation_daily`` are always the project's own tables: energy comes from the
meter's energy register as differences of consecutive good readings (never by integrating power),
with a rollover (quality 4) counted as ``value + capacity − previous``; a reading that went backwards
(quality 3) is skipped. Each hour's energy is what the register advanced between the last reading
before the hour's readings and its last reading, so hours add up exactly to register differences.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import psycopg

from regie_chaleur.db.timescale import BUCKET_ORIGIN, RollupSpec, refresh_rollup

PARIS = "Europe/Paris"


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
HOURLY_TYPES = {"device_id": "bigint", "samples": "bigint",
                **{name: "double precision" for name, _ in HOURLY.aggregates if name != "samples"}}

ENERGY_SQL = f"""
WITH seeds AS (  -- each device's last good reading before the window (an index probe per device)
    SELECT d.id AS device_id, s.time, s.energy, s.volume
    FROM devices d CROSS JOIN LATERAL (
        SELECT time, energy, volume FROM substation_samples
        WHERE device_id = d.id AND time < %(lo)s AND time >= %(lo)s - interval '400 days'
          AND energy IS NOT NULL AND energy_q IN (0, 4)
        ORDER BY time DESC LIMIT 1) s
), readings AS (
    SELECT device_id, time, energy, energy_q, volume, volume_q FROM substation_samples
    WHERE time >= %(lo)s AND time < %(hi)s AND energy IS NOT NULL AND energy_q IN (0, 4)
    UNION ALL
    SELECT device_id, time, energy, 0, volume, 0 FROM seeds
), steps AS (
    SELECT r.device_id, r.time, r.energy_q, r.energy,
           lag(r.energy) OVER w AS prev_energy, r.volume, lag(r.volume) OVER w AS prev_volume,
           m.register_capacity_kwh AS capacity
    FROM readings r
    LEFT JOIN meters m ON m.device_id = r.device_id
    WINDOW w AS (PARTITION BY r.device_id ORDER BY r.time)
)
SELECT device_id, date_bin('1 hour', time, '{BUCKET_ORIGIN}'::timestamptz) AS bucket,
       sum(CASE WHEN prev_energy IS NULL THEN 0
                WHEN energy >= prev_energy THEN energy - prev_energy
                WHEN energy_q = 4 AND capacity IS NOT NULL THEN energy + capacity - prev_energy
                ELSE 0 END) AS energy_kwh,
       sum(CASE WHEN prev_volume IS NULL OR volume IS NULL OR volume < prev_volume THEN 0
                ELSE volume - prev_volume END) AS volume_m3,
       count(*) AS readings
FROM steps WHERE time >= %(lo)s
GROUP BY 1, 2
"""

DAILY_SQL = f"""
SELECT h.device_id, (h.bucket AT TIME ZONE '{PARIS}')::date AS day,
       sum(e.energy_kwh), sum(e.volume_m3),
       avg(h.power_avg), max(h.power_max), avg(h.t_supply_primary),
       sum(h.flow_x_return) / nullif(sum(h.flow_for_return), 0),
       avg(h.t_outdoor), min(h.t_outdoor_min), max(h.t_outdoor_max), count(*)
FROM substation_hourly h
LEFT JOIN energy_hourly e ON e.device_id = h.device_id AND e.bucket = h.bucket
WHERE h.bucket >= %(lo)s AND h.bucket < %(hi)s
GROUP BY 1, 2
"""


def _hour_floor(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def refresh_energy(conn: psycopg.Connection, start: datetime, end: datetime) -> int:
    """Recompute ``energy_hourly`` for the whole hours in [start, end); returns rows written."""
    lo, hi = _hour_floor(start), _hour_floor(end) + (timedelta(hours=1) if end != _hour_floor(end) else timedelta())
    with conn.transaction():
        conn.execute("DELETE FROM energy_hourly WHERE bucket >= %(lo)s AND bucket < %(hi)s", {"lo": lo, "hi": hi})
        cur = conn.execute("INSERT INTO energy_hourly (device_id, bucket, energy_kwh, volume_m3, readings) "
                           + ENERGY_SQL, {"lo": lo, "hi": hi})
        return cur.rowcount


def paris_day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """UTC instants bounding the Europe/Paris days first..last (inclusive), DST-safe."""
    from zoneinfo import ZoneInfo

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
        cur = conn.execute(
            "INSERT INTO substation_daily (device_id, day, energy_kwh, volume_m3, power_avg_kw, power_max_kw, "
            "t_supply_avg, t_return_fw, t_outdoor_avg, t_outdoor_min, t_outdoor_max, hours) " + DAILY_SQL,
            {"lo": lo, "hi": hi})
        return cur.rowcount


def refresh_operations(conn: psycopg.Connection, start: datetime, end: datetime) -> None:
    """Refresh every operations rollup over [start, end): hourly, energy, then the days it touches."""
    from zoneinfo import ZoneInfo

    refresh_rollup(conn, HOURLY.name, start, end)
    refresh_energy(conn, start, end)
    tz = ZoneInfo(PARIS)
    refresh_daily(conn, start.astimezone(tz).date(), (end - timedelta(microseconds=1)).astimezone(tz).date())
    conn.execute("INSERT INTO rollup_state (name, refreshed_until) VALUES ('operations', %s) "
                 "ON CONFLICT (name) DO UPDATE SET refreshed_until = greatest(rollup_state.refreshed_until, "
                 "EXCLUDED.refreshed_until)", (end,))
