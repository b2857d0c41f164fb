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
    query = sql.SQL(
        """SELECT p.device_id, p.at, s.time, s.value
           FROM unnest(%(devices)s::bigint[], %(instants)s::timestamptz[]) AS p(device_id, at)
           CROSS JOIN LATERAL (
               SELECT time, {col} AS value FROM substation_samples
               WHERE device_id = p.device_id AND time <= p.at AND time > p.at - %(window)s AND {q} = ANY(%(ok)s)
               ORDER BY time DESC LIMIT 1) s""").format(col=sql.Identifier(quantity),
                                                        q=sql.Identifier(f"{quantity}_q"))
    rows = conn.execute(query, {"devices": list(device_ids), "instants": list(instants), "window": window,
                                "ok": READABLE}).fetchall()
    return {(int(r[0]), r[1]): (r[2], float(r[3])) for r in rows}
