"""Time-series tables that work with and without TimescaleDB.

Every helper takes the :class:`Capabilities` detected at start-up and records what it did in the
project's catalog tables (``time_tables``, ``rollups``, ``retention_policies``), so maintenance jobs
and queries know each table's mode without guessing:

==========================  ===========================  ==========================  ===================
feature                     community edition            Apache edition              plain PostgreSQL
==========================  ===========================  ==========================  ===================
time-partitioned table      hypertable                   hypertable                  table + BRIN(time)
compression                 native, with a policy        none                        none
rollups                     continuous aggregate+policy  own table, refresh job      own table, refresh job
retention                   ``add_retention_policy``     job: ``drop_chunks``        job: ``DELETE``
==========================  ===========================  ==========================  ===================

Queries bucket time with :func:`bucket_sql` (``date_bin`` with TimescaleDB's default origin), which
gives the same buckets as ``time_bucket`` for fixed widths and runs in every mode.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from regie_chaleur.db.capabilities import Capabilities

log = logging.getLogger(__name__)

#: time_bucket's default origin for fixed-width buckets (a Monday, midnight UTC).
BUCKET_ORIGIN = "2000-01-03 00:00:00+00"


def bucket_sql(width: str, column: str) -> sql.Composed:
    """SQL bucketing ``column`` into ``width`` buckets, identical in every mode.

    Args:
        width: a fixed interval such as ``'1 hour'`` or ``'1 day'`` (months are calendar logic, not
            buckets: compute them in Europe/Paris from daily rollups).
        column: the timestamptz column.
    """
    return sql.SQL("date_bin({w}::interval, {c}, {o}::timestamptz)").format(
        w=sql.Literal(width), c=sql.Identifier(column), o=sql.Literal(BUCKET_ORIGIN)
    )


def create_time_table(
    cur: psycopg.Cursor, caps: Capabilities, table: str, time_column: str, chunk_interval: str = "7 days"
) -> str:
    """Make an existing table time-partitioned: a hypertable, else a BRIN index on time.

    Args:
        table: an existing, empty table.
        time_column: its timestamptz column.
        chunk_interval: hypertable chunk width (ignored for plain tables).

    Returns:
        ``'hypertable'`` or ``'plain'``.
    """
    if caps.hypertables:
        cur.execute(
            "SELECT create_hypertable(%s::regclass, by_range(%s, %s::interval), if_not_exists => true)",
            (table, time_column, chunk_interval),
        )
        kind = "hypertable"
    else:
        cur.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING brin ({})").format(
                sql.Identifier(f"{table}_{time_column}_brin"), sql.Identifier(table), sql.Identifier(time_column)
            )
        )
        kind = "plain"
    cur.execute(
        """INSERT INTO time_tables (table_name, time_column, kind, chunk_interval)
           VALUES (%s, %s, %s, %s::interval)
           ON CONFLICT (table_name) DO UPDATE SET kind = EXCLUDED.kind""",
        (table, time_column, kind, chunk_interval),
    )
    return kind


def enable_compression(
    cur: psycopg.Cursor,
    caps: Capabilities,
    table: str,
    segment_by: Sequence[str],
    order_by: str,
    compress_after: str = "7 days",
) -> bool:
    """Turn on native compression with a policy (community edition only).

    Returns:
        True when compression is on; False where the edition has none (the table stays uncompressed).
    """
    if not caps.community:
        cur.execute("UPDATE time_tables SET compression = 'none' WHERE table_name = %s", (table,))
        return False
    cur.execute(
        sql.SQL(
            "ALTER TABLE {} SET (timescaledb.compress, timescaledb.compress_segmentby = {}, "
            "timescaledb.compress_orderby = {})"
        ).format(sql.Identifier(table), sql.Literal(",".join(segment_by)), sql.Literal(order_by))
    )
    cur.execute(
        "SELECT add_compression_policy(%s::regclass, %s::interval, if_not_exists => true)",
        (table, compress_after),
    )
    cur.execute("UPDATE time_tables SET compression = 'native' WHERE table_name = %s", (table,))
    return True


@dataclass(frozen=True)
class RollupSpec:
    """A time rollup of a source table: ``bucket`` + group columns + named aggregate expressions.

    Aggregates must be standard SQL (``avg``, ``min``, ``max``, ``sum``, ``count``, ``FILTER``) so both
    implementations compute the same thing.
    """

    name: str
    source: str
    time_column: str
    width: str
    group_by: tuple[str, ...]
    aggregates: tuple[tuple[str, str], ...]  # (output column, SQL aggregate expression)
    refresh_lookback: str = "2 days"

    def select(self, bucket: sql.Composable, where: sql.Composable | None = None) -> sql.Composed:
        cols: list[sql.Composable] = [sql.SQL("{} AS bucket").format(bucket)]
        cols += [sql.Identifier(g) for g in self.group_by]
        cols += [sql.SQL("{} AS {}").format(sql.SQL(expr), sql.Identifier(out)) for out, expr in self.aggregates]
        groups: list[sql.Composable] = [sql.SQL("1")]
        groups += [sql.Identifier(g) for g in self.group_by]
        return sql.SQL("SELECT {cols} FROM {src} {where} GROUP BY {groups}").format(
            cols=sql.SQL(", ").join(cols), src=sql.Identifier(self.source), where=where or sql.SQL(""),
            groups=sql.SQL(", ").join(groups),
        )


def create_rollup(cur: psycopg.Cursor, caps: Capabilities, spec: RollupSpec, column_types: dict[str, str]) -> str:
    """Create a rollup: a continuous aggregate (community) or a table kept by :func:`refresh_rollup`.

    Args:
        column_types: SQL type of every group and aggregate column (for the own table).

    Returns:
        ``'continuous_aggregate'`` or ``'table'``.
    """
    if caps.community:
        bucket = sql.SQL("time_bucket({w}::interval, {c})").format(
            w=sql.Literal(spec.width), c=sql.Identifier(spec.time_column)
        )
        cur.execute(
            sql.SQL("CREATE MATERIALIZED VIEW IF NOT EXISTS {} WITH (timescaledb.continuous) AS {} "
                    "WITH NO DATA").format(
                sql.Identifier(spec.name), spec.select(bucket)
            )
        )
        cur.execute(
            "SELECT add_continuous_aggregate_policy(%s::regclass, start_offset => %s::interval, "
            "end_offset => NULL, schedule_interval => INTERVAL '5 minutes', if_not_exists => true)",
            (spec.name, spec.refresh_lookback),
        )
        kind = "continuous_aggregate"
    else:
        columns: list[sql.Composable] = [sql.SQL("bucket timestamptz NOT NULL")]
        columns += [sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(column_types[c]))
                    for c in (*spec.group_by, *(out for out, _ in spec.aggregates))]
        key = sql.SQL(", ").join([sql.Identifier(g) for g in spec.group_by] + [sql.Identifier("bucket")])
        cur.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY ({}))").format(
                sql.Identifier(spec.name), sql.SQL(", ").join(columns), key
            )
        )
        kind = "table"
    cur.execute(
        """INSERT INTO rollups (name, source_table, time_column, width, kind, group_by, aggregates, lookback)
           VALUES (%s, %s, %s, %s::interval, %s, %s, %s, %s::interval)
           ON CONFLICT (name) DO NOTHING""",
        (spec.name, spec.source, spec.time_column, spec.width, kind, list(spec.group_by),
         [f"{o}\x1f{e}" for o, e in spec.aggregates], spec.refresh_lookback),
    )
    return kind


def load_rollup(conn: psycopg.Connection, name: str) -> tuple[RollupSpec, str]:
    """Read a rollup's definition and kind back from the catalog."""
    row = conn.execute(
        "SELECT source_table, time_column, width::text, kind, group_by, aggregates, lookback::text "
        "FROM rollups WHERE name = %s",
        (name,),
    ).fetchone()
    if row is None:
        raise KeyError(f"no rollup named {name!r}")
    aggregates = tuple(tuple(a.split("\x1f", 1)) for a in row[5])
    spec = RollupSpec(name, row[0], row[1], row[2], tuple(row[4]), aggregates, row[6])
    return spec, str(row[3])


def refresh_rollup(conn: psycopg.Connection, name: str, start: datetime, end: datetime) -> None:
    """Recompute the buckets of rollup ``name`` in [start, end) from the raw rows.

    A window reaching into data already removed by retention is clamped so the rollup keeps what
    it summarised. ``conn`` must be in autocommit mode for continuous aggregates.
    """
    spec, kind = load_rollup(conn, name)
    keep = _retention_of(conn, spec.source)
    if keep is not None:
        floor = conn.execute("SELECT now() - %s::interval", (keep,)).fetchone()[0]  # type: ignore[index]
        start = max(start, floor)
    if start >= end:
        return
    if kind == "continuous_aggregate":
        try:
            conn.execute("CALL refresh_continuous_aggregate(%s::regclass, %s, %s)", (name, start, end))
        except psycopg.errors.InsufficientPrivilege:  # the application role: TimescaleDB's policy refreshes it
            log.info("continuous aggregate %s left to its refresh policy (a manual refresh needs its owner)", name)
        return
    bucket = bucket_sql(spec.width, spec.time_column)
    # Whole buckets only: widen the window to bucket boundaries.
    row = conn.execute(
        sql.SQL("SELECT date_bin({w}::interval, %s::timestamptz, {o}::timestamptz), "
                "date_bin({w}::interval, %s::timestamptz - interval '1 microsecond', {o}::timestamptz) + {w}::interval"
                ).format(w=sql.Literal(spec.width), o=sql.Literal(BUCKET_ORIGIN)),
        (start, end),
    ).fetchone()
    lo, hi = row  # type: ignore[misc]
    where = sql.SQL("WHERE {c} >= %(lo)s AND {c} < %(hi)s").format(c=sql.Identifier(spec.time_column))
    with conn.transaction():
        conn.execute(sql.SQL("DELETE FROM {} WHERE bucket >= %(lo)s AND bucket < %(hi)s").format(
            sql.Identifier(name)), {"lo": lo, "hi": hi})
        conn.execute(sql.SQL("INSERT INTO {} ").format(sql.Identifier(name)) + spec.select(bucket, where),
                     {"lo": lo, "hi": hi})
        conn.execute("UPDATE rollups SET refreshed_until = greatest(refreshed_until, %s) WHERE name = %s",
                     (hi, name))


def set_retention(cur: psycopg.Cursor, caps: Capabilities, table: str, keep: str) -> str:
    """Keep ``table``'s raw rows for ``keep`` (an interval such as ``'2 years'``).

    Returns:
        ``'policy'`` (TimescaleDB's background policy) or ``'job'`` (:func:`apply_retention`).
    """
    kind = "job"
    if caps.community:
        cur.execute("SELECT remove_retention_policy(%s::regclass, if_exists => true)", (table,))
        cur.execute("SELECT add_retention_policy(%s::regclass, %s::interval)", (table, keep))
        kind = "policy"
    cur.execute(
        """INSERT INTO retention_policies (table_name, keep, kind) VALUES (%s, %s::interval, %s)
           ON CONFLICT (table_name) DO UPDATE SET keep = EXCLUDED.keep, kind = EXCLUDED.kind""",
        (table, keep, kind),
    )
    return kind


def apply_retention(conn: psycopg.Connection, now: datetime) -> dict[str, int]:
    """The project's own retention job: ``drop_chunks`` on hypertables, ``DELETE`` on plain tables.

    Returns:
        Per table, the chunks dropped (hypertables) or rows deleted (plain tables).
    """
    done: dict[str, int] = {}
    rows = conn.execute(
        """SELECT r.table_name, r.keep, t.kind, t.time_column FROM retention_policies r
           JOIN time_tables t USING (table_name) WHERE r.kind = 'job' ORDER BY 1"""
    ).fetchall()
    for table, keep, kind, time_column in rows:
        cutoff = now - keep
        with conn.transaction():
            if kind == "hypertable":
                # through the SECURITY DEFINER wrapper: the application role does not own the table
                dropped = conn.execute("SELECT regie_drop_chunks(%s, %s)", (table, cutoff)).fetchone()
                done[table] = int(dropped[0]) if dropped else 0
            else:
                cur = conn.execute(sql.SQL("DELETE FROM {} WHERE {} < %s").format(
                    sql.Identifier(table), sql.Identifier(time_column)), (cutoff,))
                done[table] = cur.rowcount
            conn.execute("UPDATE retention_policies SET last_run = %s WHERE table_name = %s", (now, table))
    return done


def _retention_of(conn: psycopg.Connection, table: str) -> timedelta | None:
    row = conn.execute("SELECT keep FROM retention_policies WHERE table_name = %s", (table,)).fetchone()
    return row[0] if row else None
