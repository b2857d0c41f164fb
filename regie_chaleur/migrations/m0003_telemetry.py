"""Telemetry: wide substation samples, narrow device samples, collector health per device.

Chunk intervals: a city at a 60 s poll writes about 2-3 wide rows per device per minute, tens of
millions of rows a day for 10,000 substations; one-day chunks keep the indexes of the chunk being
written (key device_id, time) within a quarter of a production server's memory. Narrow rows are
rarer (free-named points, settings): seven-day chunks. Compression (community edition) after 7 days,
segmented by device so a device's history decompresses alone.
"""

from __future__ import annotations

import psycopg

from regie_chaleur.db.capabilities import Capabilities
from regie_chaleur.db.timescale import create_time_table, enable_compression

#: the wide table's quantities and their column types, as they were when this migration was written (a
#: migration is history: it never reads live code, whose constants may change)
WIDE = {
    "t_supply_primary": "float4", "t_return_primary": "float4", "t_supply_secondary": "float4",
    "t_return_secondary": "float4", "t_outdoor": "float4", "flow": "float4", "power": "float4",
    "energy": "float8", "volume": "float8", "valve_position": "float4", "pump_running": "int2",
    "meter_error_code": "int4",
}


def apply(cur: psycopg.Cursor, caps: Capabilities) -> None:
    values = ",\n".join(f"    {name} {kind}" for name, kind in WIDE.items())
    qualities = ",\n".join(f"    {name}_q smallint" for name in WIDE)
    cur.execute(f"""
        CREATE TABLE substation_samples (
            time timestamptz NOT NULL,
            device_id bigint NOT NULL,
        {values},
        {qualities},
            PRIMARY KEY (device_id, time)
        )""")
    cur.execute("""
        COMMENT ON TABLE substation_samples IS
          'One row per device and response time. Units: °C, m³/h, kW, kWh, m³, %. '
          '*_q: quality (0 good, 1 invalid/sentinel, 2 out of range, 3 counter backwards, '
          '4 counter rollover, 5 communication error); NULL value and NULL quality: not read.';
        CREATE TABLE device_samples (
            time timestamptz NOT NULL,
            device_id bigint NOT NULL,
            point text NOT NULL,
            value double precision,
            quality smallint NOT NULL,
            PRIMARY KEY (device_id, point, time)
        );
        CREATE TABLE device_health (
            device_id bigint PRIMARY KEY,
            last_success timestamptz,
            last_attempt timestamptz,
            polls bigint NOT NULL,
            successes bigint NOT NULL,
            consecutive_failures integer NOT NULL,
            last_latency_s double precision,
            avg_latency_s double precision,
            last_error text,
            updated_at timestamptz NOT NULL
        );
    """)
    create_time_table(cur, caps, "substation_samples", "time", "1 day")
    create_time_table(cur, caps, "device_samples", "time", "7 days")
    enable_compression(cur, caps, "substation_samples", ["device_id"], "time DESC", "7 days")
    enable_compression(cur, caps, "device_samples", ["device_id", "point"], "time DESC", "7 days")
