"""Long actions started from a page (simulating or issuing a bill run): run in a thread of the web
process, their progress in ``web_jobs`` so any page (and any process) can follow them."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from billing.errors import BillingError
from regie_chaleur.db.database import Database
from regie_chaleur.errors import RegieError

log = logging.getLogger(__name__)
StageProgress = Callable[[str], Callable[[int, int], None]]
Work = Callable[[psycopg.Connection, StageProgress], dict[str, Any]]


def start_job(db: Database, kind: str, actor: str, work: Work) -> int:
    """Start ``work(conn, progress)`` in a thread; returns the job's id at once."""
    with db.pool.connection() as conn:
        row = conn.execute("INSERT INTO web_jobs (kind, status, started_by) VALUES (%s, 'running', %s) RETURNING id",
                           (kind, actor)).fetchone()
    assert row is not None  # noqa: S101
    job_id = int(row[0])
    threading.Thread(target=_run, args=(db, job_id, work), name=f"job-{job_id}", daemon=True).start()
    return job_id


def _run(db: Database, job_id: int, work: Work) -> None:
    last = [0.0]

    def progress(stage: str) -> Callable[[int, int], None]:
        def update(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] < 0.4 and done < total:
                return
            last[0] = now
            with db.pool.connection() as conn:
                conn.execute("UPDATE web_jobs SET stage = %s, done = %s, total = %s WHERE id = %s",
                             (stage, done, total, job_id))
        return update

    try:
        with db.pool.connection() as conn:
            result = work(conn, progress)
        status, error = "done", None
    except (BillingError, RegieError, psycopg.Error) as exc:
        log.warning("job %s failed: %s", job_id, exc)
        status, error, result = "failed", str(exc), {}
    except Exception as exc:  # the top of a background thread: logged and shown, never lost
        log.exception("job %s crashed", job_id)
        status, error, result = "failed", f"erreur interne : {exc}", {}
    with db.pool.connection() as conn:
        conn.execute("UPDATE web_jobs SET status = %s, error = %s, result = %s, finished_at = now() WHERE id = %s",
                     (status, error, Jsonb(result), job_id))


def read_job(conn: psycopg.Connection, job_id: int) -> dict[str, Any] | None:
    cur = conn.execute("SELECT id, kind, status, stage, done, total, result, error, started_by, started_at, "
                       "finished_at FROM web_jobs WHERE id = %s", (job_id,))
    row = cur.fetchone()
    return dict(zip([c.name for c in cur.description or []], row, strict=True)) if row else None
