"""``regie-chaleur demo``: the whole system on the embedded database (or the configured one).

Today it prepares the database (migrations, TimescaleDB mode detection) and serves the application
and its maintenance jobs; the demonstration network is built by the demo issue.
"""

from __future__ import annotations

import logging
import threading

from regie_chaleur.db.database import connect, open_database, resolve_url
from regie_chaleur.settings import Settings

log = logging.getLogger(__name__)


def reset_database(settings: Settings) -> None:
    """Drop every object of the application's schema (demo only)."""
    url, embedded = resolve_url(settings)
    try:
        with connect(url) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
    finally:
        if embedded is not None:
            embedded.stop()


def run_demo(settings: Settings, *, host: str | None, port: int | None, reset: bool) -> int:
    """Prepare the database and serve the application until Ctrl-C."""
    from regie_chaleur.cli import _serve
    from regie_chaleur.maintenance import run_maintenance_loop

    if reset:
        print("regie-chaleur demo: resetting the database", flush=True)
        reset_database(settings)
    print("regie-chaleur demo: preparing the database...", flush=True)
    db = open_database(settings, apply_migrations=True)
    where = f"embedded server in {db.embedded.pgdata}" if db.embedded else "configured database"
    print(f"regie-chaleur demo: database ready ({where}, mode {db.caps.mode}, "
          f"{len(db.applied)} migration(s) applied)", flush=True)
    stop = threading.Event()
    jobs = threading.Thread(target=run_maintenance_loop, args=(db.pool, stop, 60.0, settings.notifier()), daemon=True,
                            name="maintenance")
    jobs.start()
    try:
        _serve(db, host or settings.http_host, port or settings.http_port)
    finally:
        stop.set()
        jobs.join(timeout=5)
    return 0
