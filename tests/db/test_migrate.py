"""Migration runner: ordered, idempotent, one transaction per migration, safe under concurrency."""

from __future__ import annotations

import sys
import threading
import types
from pathlib import Path

import psycopg
import pytest

from regie_chaleur.db.capabilities import Capabilities
from regie_chaleur.db.migrate import migrate, status
from regie_chaleur.errors import MigrationError


def test_migrate_applies_everything_then_nothing(db_url: str) -> None:
    caps = Capabilities()
    with psycopg.connect(db_url, autocommit=True) as conn:
        first = migrate(conn, caps)
        second = migrate(conn, caps)
        states = status(conn)
    assert first[:2] == ["m0001_core", "m0002_registry"]
    assert second == []
    assert all(s.applied_at is not None and not s.changed for s in states)


def _package(tmp_path: Path, name: str, bodies: dict[str, str]) -> types.ModuleType:
    pkg = tmp_path / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for module, body in bodies.items():
        (pkg / f"{module}.py").write_text(f'"""{module} migration."""\n\n\ndef apply(cur, caps):\n{body}\n')
    sys.path.insert(0, str(tmp_path))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(tmp_path))


def test_failed_migration_is_rolled_back_and_named(db_url: str, tmp_path: Path) -> None:
    package = _package(tmp_path, "mig_fail", {
        "m0001_ok": "    cur.execute('CREATE TABLE a (x int)')",
        "m0002_bad": "    cur.execute('CREATE TABLE b (x int)')\n    cur.execute('SELECT no_such_column FROM a')",
    })
    with psycopg.connect(db_url, autocommit=True) as conn:
        with pytest.raises(MigrationError, match="m0002_bad failed and was rolled back"):
            migrate(conn, Capabilities(), package)
        tables = {r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        states = status(conn, package)
    assert "a" in tables and "b" not in tables
    assert [(s.id, s.applied_at is not None) for s in states] == [("m0001_ok", True), ("m0002_bad", False)]


def test_concurrent_migrators_apply_once(db_url: str, tmp_path: Path) -> None:
    package = _package(tmp_path, "mig_slow", {
        "m0001_slow": "    cur.execute('SELECT pg_sleep(0.3)')\n    cur.execute('CREATE TABLE once (x int)')",
    })
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with psycopg.connect(db_url, autocommit=True) as conn:
                results.append(migrate(conn, Capabilities(), package))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(results) == [[], [], ["m0001_slow"]]


def test_migrate_needs_autocommit(db_url: str) -> None:
    with psycopg.connect(db_url) as conn, pytest.raises(MigrationError, match="autocommit"):
        migrate(conn, Capabilities())
