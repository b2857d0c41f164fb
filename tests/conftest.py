"""Shared fixtures: a real PostgreSQL for every database test, a fresh database per test.

The server is ``REGIE_TEST_DATABASE_URL`` when set (CI: PostgreSQL 15 with TimescaleDB), else the
embedded server started once for the session. With ``REGIE_REQUIRE_TIMESCALEDB=1`` the databases
must get the extension, or the tests fail instead of falling back to plain tables.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from regie_chaleur.db.database import Database, open_database
from regie_chaleur.settings import Settings

REQUIRE_TIMESCALEDB = os.environ.get("REGIE_REQUIRE_TIMESCALEDB") == "1"


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a server on which tests may create and drop databases."""
    url = os.environ.get("REGIE_TEST_DATABASE_URL")
    if url:
        yield url
        return
    from regie_chaleur.db.embedded import EmbeddedServer

    server = EmbeddedServer(tmp_path_factory.mktemp("embedded") / "pgdata")
    yield server.admin_url
    server.stop()


@pytest.fixture(scope="session")
def timescaledb_available(pg_admin_url: str) -> bool:
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
        preload = conn.execute("SHOW shared_preload_libraries").fetchone()
    ok = row is not None and preload is not None and "timescaledb" in str(preload[0])
    if REQUIRE_TIMESCALEDB and not ok:
        pytest.fail("REGIE_REQUIRE_TIMESCALEDB=1 but the test server has no preloaded TimescaleDB")
    return ok


DatabaseFactory = Callable[..., str]


@pytest.fixture
def make_database(pg_admin_url: str) -> Iterator[DatabaseFactory]:
    """Factory of fresh, empty databases (dropped after the test); returns their URL."""
    created: list[str] = []

    def make() -> str:
        name = f"regie_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        return make_conninfo(pg_admin_url, dbname=name)

    yield make
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        for name in created:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def settings_for(url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "mode": "development", "database_url": url, "pool_min_size": 0, "pool_max_size": 4,
        "timescaledb": "require" if REQUIRE_TIMESCALEDB else "auto",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def db_url(make_database: DatabaseFactory) -> str:
    """A fresh empty database (no schema yet)."""
    return make_database()


@pytest.fixture(scope="session")
def migrated_template(pg_admin_url: str, timescaledb_available: bool) -> Iterator[str]:
    """A database migrated once for the session, copied for each test that needs a migrated database
    (``CREATE DATABASE … TEMPLATE``: a file copy, instead of running every migration again). No one may
    connect to it once built, TimescaleDB's background workers included, so that it can be copied."""
    name = f"regie_template_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    open_database(settings_for(make_conninfo(pg_admin_url, dbname=name)), apply_migrations=True).close()
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(sql.Identifier(name)))
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    yield name
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def db(pg_admin_url: str, migrated_template: str) -> Iterator[Database]:
    """A fresh, migrated database in the best mode the server offers (TimescaleDB in CI): a copy of the
    session's migrated template, dropped after the test."""
    name = f"regie_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        for attempt in range(50):  # a background worker may still be leaving the template
            try:
                conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name),
                                                                              sql.Identifier(migrated_template)))
                break
            except psycopg.errors.ObjectInUse:
                if attempt == 49:
                    raise
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                             (migrated_template,))
                time.sleep(0.1)
    database = open_database(settings_for(make_conninfo(pg_admin_url, dbname=name)), apply_migrations=True)
    yield database
    database.close()
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def plain_db(make_database: DatabaseFactory) -> Iterator[Database]:
    """A fresh, migrated database in plain-table mode (TimescaleDB off), whatever the server has."""
    database = open_database(settings_for(make_database(), timescaledb="off"), apply_migrations=True)
    yield database
    database.close()


@pytest.fixture
def data_dir() -> Path:
    return Path(__file__).parent / "data"
