"""Writer: batched binary COPY of readings into the time-series tables.

Rows go through a temporary staging table (COPY cannot skip conflicts) and then
``INSERT ... ON CONFLICT DO NOTHING`` on the natural key, so a replayed batch never duplicates:

- ``substation_samples`` (wide): one row per device and response time, a column per canonical
  quantity plus its quality; key (device_id, time);
- ``device_samples`` (narrow): one row per free-named point; key (device_id, point, time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from telemetry.samples import NARROW_COLUMNS, WIDE_COLUMNS, WIDE_QUANTITIES, WIDE_SQL_TYPES, Reading

_INT_QUANTITIES = [q for q in WIDE_QUANTITIES if WIDE_SQL_TYPES[q].startswith("int")]
_WIDE_TYPES = (["timestamptz", "int8"] + [WIDE_SQL_TYPES[q] for q in WIDE_QUANTITIES]
               + ["int2"] * len(WIDE_QUANTITIES))
_NARROW_TYPES = ["timestamptz", "int8", "text", "float8", "int2"]


@dataclass(frozen=True)
class WriteResult:
    rows_offered: int
    rows_inserted: int  # rows new to the database (a replay inserts 0)
    samples: int  # values carried by the readings


def _prepare_wide(row: tuple[object, ...]) -> tuple[object, ...]:
    out = list(row)
    for q in _INT_QUANTITIES:
        i = 2 + WIDE_QUANTITIES.index(q)
        if out[i] is not None:
            out[i] = round(out[i])  # type: ignore[call-overload]
    return tuple(out)


def _tables(readings: Sequence[Reading]) -> list[tuple[str, tuple[str, ...], list[str], list[tuple[object, ...]]]]:
    """(table, columns, binary types, rows) of the readings, for the tables that get rows."""
    wide = [_prepare_wide(r) for r in (x.wide_row() for x in readings) if r is not None]
    narrow = [row for x in readings for row in x.narrow_rows()]
    return [spec for spec in (("substation_samples", WIDE_COLUMNS, _WIDE_TYPES, wide),
                              ("device_samples", NARROW_COLUMNS, _NARROW_TYPES, narrow)) if spec[3]]


def _copy(cur: psycopg.Cursor, target: sql.Composable, columns: tuple[str, ...], types: list[str],
          rows: list[tuple[object, ...]]) -> None:
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(target, cols)) as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


#: the hours of wide samples a write touched, so the rollups follow what was written (whatever its age)
MARK_HOURS = """INSERT INTO ingested_hours (bucket, written_at)
SELECT DISTINCT date_bin('1 hour', time, TIMESTAMPTZ '2000-01-01 00:00:00+00'), now() FROM {}
ON CONFLICT (bucket) DO UPDATE SET written_at = EXCLUDED.written_at"""


def write_readings(conn: psycopg.Connection, readings: Sequence[Reading]) -> WriteResult:
    """Write readings in one transaction; idempotent (conflicting rows are skipped). The hours of the
    wide samples are marked in ``ingested_hours``."""
    tables = _tables(readings)
    inserted = 0
    with conn.transaction(), conn.cursor() as cur:
        for table, columns, types, rows in tables:
            stage = sql.Identifier(f"_stage_{table}")
            cur.execute(sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) "
                                "ON COMMIT DELETE ROWS").format(stage, sql.Identifier(table)))
            _copy(cur, stage, columns, types, rows)
            cols = sql.SQL(", ").join(map(sql.Identifier, columns))
            cur.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING").format(
                sql.Identifier(table), cols, cols, stage))
            inserted += cur.rowcount
            if table == "substation_samples":
                cur.execute(sql.SQL(MARK_HOURS).format(stage))  # last: its row locks are held the least
    return WriteResult(sum(len(t[3]) for t in tables), inserted, sum(r.sample_count for r in readings))


def copy_readings(conn: psycopg.Connection, readings: Sequence[Reading]) -> int:
    """Bulk path for history into an empty period: binary COPY straight into the tables (no staging,
    no conflict check: a conflicting row fails the whole transaction); the hours are marked as written.
    Returns rows written."""
    tables = _tables(readings)
    with conn.transaction(), conn.cursor() as cur:
        for table, columns, types, rows in tables:
            _copy(cur, sql.Identifier(table), columns, types, rows)
        hours = sorted({r.time.replace(minute=0, second=0, microsecond=0) for r in readings
                        if r.wide_row() is not None})
        if hours:
            cur.executemany("INSERT INTO ingested_hours (bucket, written_at) VALUES (%s, now()) "
                            "ON CONFLICT (bucket) DO UPDATE SET written_at = EXCLUDED.written_at",
                            [(h,) for h in hours])
    return sum(len(t[3]) for t in tables)


_BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
_BINARY_TRAILER = b"\xff\xff"


def copy_binary_payload(conn: psycopg.Connection, payload: bytes) -> int:
    """Bulk path for history generated elsewhere in bulk: ``payload`` holds rows of ``substation_samples``
    already in PostgreSQL's binary COPY encoding (every column of :data:`WIDE_COLUMNS`, in order; no
    signature, no trailer). Written in one transaction straight into the table, like
    :func:`copy_readings` (an empty period), but the hours are not marked: the caller rolls them up.
    Returns the rows written."""
    with conn.transaction(), conn.cursor() as cur:
        cols = sql.SQL(", ").join(map(sql.Identifier, WIDE_COLUMNS))
        with cur.copy(sql.SQL("COPY substation_samples ({}) FROM STDIN (FORMAT BINARY)").format(cols)) as copy:
            copy.write(_BINARY_SIGNATURE)
            view = memoryview(payload)
            for i in range(0, len(view), 1 << 20):
                copy.write(view[i:i + (1 << 20)])
            copy.write(_BINARY_TRAILER)
        return cur.rowcount


def write_health(conn: psycopg.Connection, rows: Sequence[tuple[object, ...]]) -> None:
    """Upsert device health rows: (device_id, last_success, last_attempt, polls, successes,
    consecutive_failures, last_latency_s, avg_latency_s, last_error, last_error_kind, last_failure)."""
    if not rows:
        return
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO device_health (device_id, last_success, last_attempt, polls, successes,
                   consecutive_failures, last_latency_s, avg_latency_s, last_error, last_error_kind, last_failure,
                   updated_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now())
               ON CONFLICT (device_id) DO UPDATE SET last_success = EXCLUDED.last_success,
                   last_attempt = EXCLUDED.last_attempt, polls = EXCLUDED.polls, successes = EXCLUDED.successes,
                   consecutive_failures = EXCLUDED.consecutive_failures, last_latency_s = EXCLUDED.last_latency_s,
                   avg_latency_s = EXCLUDED.avg_latency_s, last_error = EXCLUDED.last_error,
                   last_error_kind = EXCLUDED.last_error_kind, last_failure = EXCLUDED.last_failure,
                   updated_at = now()""",
            rows,
        )
