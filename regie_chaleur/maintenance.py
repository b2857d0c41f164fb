"""The project's own maintenance jobs, where TimescaleDB's policies are not available.

- rollup refresh: every own rollup table recomputed over its lookback window;
- retention: ``drop_chunks`` on Apache-edition hypertables, ``DELETE`` on plain tables.

Run by ``regie-chaleur scheduler`` (and by the demo) at a fixed cadence. In the community edition the
database's own policies do the same and these jobs find nothing to do.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import psycopg
from psycopg_pool import ConnectionPool

from regie_chaleur.db.timescale import apply_retention, refresh_due_rollups

log = logging.getLogger(__name__)


def run_maintenance_once(pool: ConnectionPool, now: datetime | None = None) -> dict[str, object]:
    """One pass of both jobs; returns what was done (for logs and tests)."""
    now = now or datetime.now(UTC)
    with pool.connection() as conn:
        refreshed = refresh_due_rollups(conn, now)
        retained = apply_retention(conn, now)
    return {"rollups_refreshed": refreshed, "retention": retained}


def run_maintenance_loop(pool: ConnectionPool, stop: threading.Event, every_s: float = 300.0) -> None:
    """Run :func:`run_maintenance_once` every ``every_s`` seconds [s] until ``stop`` is set.

    A failing pass is logged and retried at the next tick; the loop never dies of one.
    """
    while not stop.is_set():
        try:
            done = run_maintenance_once(pool)
            log.info("maintenance: %s", done)
        except psycopg.Error as exc:
            log.warning("maintenance pass failed, retrying in %.0f s: %s", every_s, exc)
        stop.wait(every_s)
