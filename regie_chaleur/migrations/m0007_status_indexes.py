"""Indexes behind the live substation status: open alarms and delivery points by substation."""

from __future__ import annotations

import psycopg

from regie_chaleur.db.capabilities import Capabilities


def apply(cur: psycopg.Cursor, caps: Capabilities) -> None:
    cur.execute("""
        CREATE INDEX IF NOT EXISTS alarms_open_by_substation ON alarms (substation_id) WHERE state <> 'cleared';
        CREATE INDEX IF NOT EXISTS delivery_points_substation_idx ON delivery_points (substation_id);
        CREATE INDEX IF NOT EXISTS meters_device_idx ON meters (device_id);
    """)
