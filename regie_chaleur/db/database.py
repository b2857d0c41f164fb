"""The application's database: where it is, its pool, its capabilities.

:func:`open_database` resolves the URL (configured, or the embedded server when none is), detects the
TimescaleDB capabilities, applies pending migrations when asked, and opens a psycopg 3 pool that the
application hands to the packages.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from psycopg_pool import ConnectionPool

from regie_chaleur.db.capabilities import Capabilities, detect_capabilities
from regie_chaleur.db.embedded import EmbeddedServer
from regie_chaleur.db.migrate import migrate
from regie_chaleur.errors import DatabaseUnavailableError
from regie_chaleur.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Database:
    """An open database: URL, pool, capabilities, and the embedded server when we started one."""

    url: str
    caps: Capabilities
    pool: ConnectionPool
    embedded: EmbeddedServer | None = None
    applied: list[str] = field(default_factory=list)

    def close(self) -> None:
        """Close the pool and stop the embedded server (if this process started it)."""
        self.pool.close()
        if self.embedded is not None:
            self.embedded.stop()


def resolve_url(settings: Settings) -> tuple[str, EmbeddedServer | None]:
    """The database URL: the configured one, or the embedded server's (started on demand)."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value(), None
    server = EmbeddedServer(settings.data_dir / "pgdata")
    return server.url, server


def connect(url: str, *, autocommit: bool = True, connect_timeout: int = 5) -> psycopg.Connection:
    """One connection, with a clear error when the server is unreachable."""
    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=connect_timeout)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailableError(f"cannot connect to the database: {exc}") from exc


def prepare(url: str, settings: Settings, *, apply_migrations: bool) -> tuple[Capabilities, list[str]]:
    """Detect capabilities and (optionally) migrate; returns both."""
    with connect(url) as conn:
        caps = detect_capabilities(conn, settings.timescaledb)
        applied = migrate(conn, caps) if apply_migrations else []
    return caps, applied


def open_database(settings: Settings, *, apply_migrations: bool | None = None) -> Database:
    """Open the application's database.

    Args:
        apply_migrations: None: migrate when ``settings.auto_migrate`` or in demo/development mode.
    """
    url, embedded = resolve_url(settings)
    if apply_migrations is None:
        apply_migrations = settings.auto_migrate or settings.lenient
    try:
        caps, applied = prepare(url, settings, apply_migrations=apply_migrations)
        pool = ConnectionPool(
            url, min_size=settings.pool_min_size, max_size=settings.pool_max_size,
            kwargs={"autocommit": True}, configure=configure_session, open=True, name="regie",
        )
    except BaseException:
        if embedded is not None:
            embedded.stop()
        raise
    return Database(url=url, caps=caps, pool=pool, embedded=embedded, applied=applied)


def configure_session(conn: psycopg.Connection) -> None:
    """The session settings of every connection the application uses.

    - Custom plans for every execution of a prepared statement: psycopg prepares a query on the server
      after a few executions; PostgreSQL then tries a generic plan, which for a query on a hypertable
      (or any table partitioned by time) cannot exclude chunks by the time bounds and is planned against
      all of them: over a year of daily chunks that once cost 0.3 s per statement and connection, the
      tail of the pages' latency. Custom plans keep the chunk exclusion; the statements stay prepared.
    - No JIT compilation: the planner's cost estimates over a year of chunks exceed the JIT thresholds
      while the work is a few index probes; measured on the network overview (1,000 substations, a
      year of data): 1.3 s compiling for 0.2 s of work.
    """
    conn.execute("SET plan_cache_mode = force_custom_plan")
    conn.execute("SET jit = off")


@contextmanager
def connected(settings: Settings, *, apply_migrations: bool | None = None
              ) -> Iterator[tuple[Database, psycopg.Connection]]:
    """Open the database, lend one pooled connection, and close everything afterwards (one-shot
    commands)."""
    db = open_database(settings, apply_migrations=apply_migrations)
    try:
        with db.pool.connection() as conn:
            yield db, conn
    finally:
        db.close()
