"""The migration runner: one ordered sequence of migrations, each applied in one transaction.

Why a small runner rather than yoyo-migrations: our migrations must call the TimescaleDB helpers with
the capabilities detected at start-up (hypertable or plain table, continuous aggregate or own rollup),
run on the application's own psycopg 3 connection (the embedded server is reached through a Unix
socket URL that yoyo's backends do not parse), and hold an advisory lock so two processes starting at
once do not both migrate. That is about a hundred lines; yoyo would still need all of it in Python steps.

A migration is a module ``regie_chaleur/migrations/mNNNN_name.py`` with a docstring and a function
``apply(cur, caps)``. Applied migrations are recorded in ``schema_migrations`` with a checksum of
their source; re-running applies only what is pending, so ``db migrate`` is idempotent.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import logging
import pkgutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType

import psycopg

from regie_chaleur import migrations as migrations_package
from regie_chaleur.db.capabilities import Capabilities
from regie_chaleur.errors import MigrationError

log = logging.getLogger(__name__)
LOCK_KEY = 7_341_201_611  # pg_advisory_lock key of the migrator

Apply = Callable[[psycopg.Cursor, Capabilities], None]


@dataclass(frozen=True)
class Migration:
    id: str
    description: str
    checksum: str
    apply: Apply


@dataclass(frozen=True)
class MigrationState:
    id: str
    description: str
    applied_at: datetime | None
    changed: bool  # applied, but its source changed since


def discover(package: ModuleType = migrations_package) -> list[Migration]:
    """All migrations of ``package``, in id order."""
    found: list[Migration] = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.name.startswith("m"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        source = inspect.getsource(module)
        doc = (module.__doc__ or "").strip().splitlines()
        found.append(Migration(
            id=info.name, description=doc[0] if doc else "",
            checksum=hashlib.sha256(source.encode()).hexdigest()[:16], apply=module.apply,
        ))
    return found


def _ensure_table(conn: psycopg.Connection) -> None:
    conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               id text PRIMARY KEY,
               description text NOT NULL,
               checksum text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now(),
               duration_ms integer NOT NULL,
               timescaledb_mode text NOT NULL
           )"""
    )


def status(conn: psycopg.Connection, package: ModuleType = migrations_package) -> list[MigrationState]:
    """Every known migration with when it was applied (None: pending)."""
    with conn.transaction():
        _ensure_table(conn)
        applied = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT id, applied_at, checksum FROM schema_migrations")}
    return [
        MigrationState(m.id, m.description, applied[m.id][0] if m.id in applied else None,
                       m.id in applied and applied[m.id][1] != m.checksum)
        for m in discover(package)
    ]


def migrate(conn: psycopg.Connection, caps: Capabilities, package: ModuleType = migrations_package) -> list[str]:
    """Apply every pending migration, each in its own transaction, under an advisory lock.

    Args:
        conn: a connection in autocommit mode (transactions are opened here).

    Returns:
        The ids applied (empty when the schema was already current).

    Raises:
        MigrationError: naming the migration that failed; it was rolled back, earlier ones stay.
    """
    if not conn.autocommit:
        raise MigrationError("migrate() needs an autocommit connection")
    conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
    try:
        with conn.transaction():
            _ensure_table(conn)
        done = {r[0] for r in conn.execute("SELECT id FROM schema_migrations")}
        applied: list[str] = []
        for migration in discover(package):
            if migration.id in done:
                continue
            started = time.perf_counter()
            try:
                with conn.transaction(), conn.cursor() as cur:
                    migration.apply(cur, caps)
                    cur.execute(
                        "INSERT INTO schema_migrations (id, description, checksum, duration_ms, timescaledb_mode) "
                        "VALUES (%s, %s, %s, %s, %s)",
                        (migration.id, migration.description, migration.checksum,
                         int((time.perf_counter() - started) * 1000), caps.mode),
                    )
            except psycopg.Error as exc:
                raise MigrationError(f"migration {migration.id} failed and was rolled back: {exc}") from exc
            log.info("applied migration %s (%s)", migration.id, migration.description)
            applied.append(migration.id)
        return applied
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
