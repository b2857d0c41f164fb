"""Core catalog: time-series tables, rollups and retention policies known to the maintenance jobs."""

from __future__ import annotations

import psycopg

from regie_chaleur.db.capabilities import Capabilities


def apply(cur: psycopg.Cursor, caps: Capabilities) -> None:
    cur.execute(
        """
        CREATE TABLE IF NOT EXISTS time_tables (
            table_name     text PRIMARY KEY,
            time_column    text NOT NULL,
            kind           text NOT NULL CHECK (kind IN ('hypertable', 'plain')),
            chunk_interval interval NOT NULL,
            compression    text NOT NULL DEFAULT 'none' CHECK (compression IN ('native', 'none'))
        );
        CREATE TABLE IF NOT EXISTS rollups (
            name            text PRIMARY KEY,
            source_table    text NOT NULL REFERENCES time_tables (table_name),
            time_column     text NOT NULL,
            width           interval NOT NULL,
            kind            text NOT NULL CHECK (kind IN ('continuous_aggregate', 'table')),
            group_by        text[] NOT NULL,
            aggregates      text[] NOT NULL,
            lookback        interval NOT NULL,
            refreshed_until timestamptz NOT NULL DEFAULT '-infinity'
        );
        CREATE TABLE IF NOT EXISTS retention_policies (
            table_name text PRIMARY KEY REFERENCES time_tables (table_name),
            keep       interval NOT NULL CHECK (keep > interval '0'),
            kind       text NOT NULL CHECK (kind IN ('policy', 'job')),
            last_run   timestamptz
        );
        """
    )
