"""Indexes behind the overview: open alarms, delivery points and meters by parent; hourly rollups by
hour (network totals read one hour or one day of every device)."""

from __future__ import annotations

import psycopg

from regie_chaleur.db.capabilities import Capabilities


def apply(cur: psycopg.Cursor, caps: Capabilities) -> None:
    cur.execute("""
        CREATE INDEX IF NOT EXISTS alarms_open_by_substation ON alarms (substation_id) WHERE state <> 'cleared';
        CREATE INDEX IF NOT EXISTS delivery_points_substation_idx ON delivery_points (substation_id);
        CREATE INDEX IF NOT EXISTS meters_device_idx ON meters (device_id);
        CREATE INDEX IF NOT EXISTS energy_hourly_bucket_idx ON energy_hourly (bucket);
    """)
    kind = cur.execute("SELECT kind FROM rollups WHERE name = 'substation_hourly'").fetchone()
    if kind is not None and kind[0] == "table":  # a continuous aggregate has TimescaleDB's own indexes
        cur.execute("CREATE INDEX IF NOT EXISTS substation_hourly_bucket_idx ON substation_hourly (bucket)")
