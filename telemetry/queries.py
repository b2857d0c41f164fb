"""Time-series queries other parts of the system need from telemetry, as plain data."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from telemetry.errors import TelemetryError
from telemetry.quality import Quality
from telemetry.samples import WIDE_QUANTITIES

READABLE = [int(Quality.GOOD), int(Quality.COUNTER_ROLLOVER)]


RegisterValues = dict[tuple[int, datetime], tuple[datetime, float]]


def read_registers_at(conn: psycopg.Connection, device_ids: Sequence[int], instants: Sequence[datetime],
                      window: timedelta, quantity: str = "energy") -> RegisterValues:
    """For each (device, instant) pair, the last trustworthy value of ``quantity`` sampled at or before
    the instant and less than ``window`` before it: ``{(device_id, instant): (sample time, value)}``.
    Trustworthy: good, or a counter read just after it wrapped (the value is the register's).

    ``device_ids`` and ``instants`` are parallel sequences. Energy registers are in kWh, volume in m³.
    A pair without such a sample is absent from the result.
    """
    if quantity not in WIDE_QUANTITIES:
        raise TelemetryError(f"unknown quantity {quantity!r}")
    if len(device_ids) != len(instants):
        raise TelemetryError("device_ids and instants must have the same length")
    by_instant: dict[datetime, list[int]] = {}
    for device, at in zip(device_ids, instants, strict=True):
        by_instant.setdefault(at, []).append(int(device))
    if not by_instant:
        return {}
    # one branch per instant with its own time bounds, so that the planner keeps only the chunks
    # around each instant (a join on the instants would plan against every chunk of the hypertable);
    # in it, one backward probe of the (device_id, time) key per device, which stops at the first
    # trustworthy sample instead of reading and sorting the whole window
    branch = sql.SQL(
        """(SELECT d.id, %s::timestamptz AS at, s.time, s.value FROM unnest(%s::bigint[]) AS d(id)
            CROSS JOIN LATERAL (
                SELECT time, {col} AS value FROM substation_samples
                WHERE device_id = d.id AND time <= %s AND time > %s AND {q} = ANY(%s)
                ORDER BY time DESC LIMIT 1) AS s)""").format(col=sql.Identifier(quantity),
                                                            q=sql.Identifier(f"{quantity}_q"))
    params: list[object] = []
    for at, devices in by_instant.items():
        params += [at, devices, at, at - window, READABLE]
    rows = conn.execute(sql.SQL(" UNION ALL ").join([branch] * len(by_instant)), params).fetchall()
    return {(int(r[0]), r[1]): (r[2], float(r[3])) for r in rows}
