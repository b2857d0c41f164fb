"""The application's database role (``regie-chaleur db app-role``): the services work through it, and it
cannot change an issued invoice, truncate its lines, switch a trigger off, rewrite the audit trail, nor
alter the schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from billing.issuing import issue_run
from billing.runs import simulate_run
from regie_chaleur.db.database import Database
from regie_chaleur.db.roles import grant_app_role
from regie_chaleur.db.timescale import apply_retention, set_retention
from regie_chaleur.operations.rollups import refresh_operations
from regie_chaleur.services.documents import generate_for
from regie_chaleur.web.security import audit
from tests.billing.support import ACTOR, contract, remote, setup_billing, subscriber
from tests.test_cli import run


@pytest.fixture
def app_url(db: Database) -> Iterator[str]:
    role = f"regie_app_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(db.url, autocommit=True) as conn:
        assert grant_app_role(conn, role) is True
        assert grant_app_role(conn, role) is False  # again after a migration: same rights
    yield make_conninfo(**{**conninfo_to_dict(db.url), "user": role})  # type: ignore[arg-type]
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_the_services_work_through_the_application_role(db: Database, app_url: str) -> None:
    with psycopg.connect(app_url, autocommit=True) as conn:
        setup_billing(conn, points=2)  # registry, régie, tariffs, VAT
        subscriber(conn, "ABO-1")
        contract(conn, "POL-0001", "ABO-1", "PDL-0001", date(2025, 1, 1))
        remote(conn, "MTR-0001", date(2026, 10, 1), "1000")
        remote(conn, "MTR-0001", date(2026, 11, 1), "9000")
        run_id = simulate_run(conn, date(2026, 10, 1), actor=ACTOR, run_date=date(2026, 11, 3)).run_id
        issue_run(conn, run_id, actor=ACTOR, now=datetime(2026, 11, 3, 9, tzinfo=UTC))
        assert generate_for(conn, ["FAC-2026-000001"]) == 1
        device = conn.execute("SELECT id FROM devices WHERE code = 'DEV-0001'").fetchone()
        assert device is not None
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
        conn.execute("INSERT INTO substation_samples (time, device_id, energy, energy_q) SELECT %s + g * "
                     "interval '10 minutes', %s, 1000 + g, 0 FROM generate_series(0, 17) g", (start, device[0]))
        refresh_operations(conn, start, start + timedelta(hours=3))
        assert conn.execute("SELECT count(*) FROM energy_hourly").fetchone()[0] > 0  # type: ignore[index]
        audit(conn, "agent", "write", method="POST", path="/x", status=200)
    if db.caps.hypertables and not db.caps.community:  # the project's retention job, through regie_drop_chunks
        with psycopg.connect(db.url, autocommit=True) as owner, owner.cursor() as cur:
            set_retention(cur, db.caps, "substation_samples", "400 days")
        with psycopg.connect(app_url, autocommit=True) as conn:
            assert "substation_samples" in apply_retention(conn, datetime.now(UTC))
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="se garde"):
                conn.execute("SELECT regie_drop_chunks('substation_samples', now())")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):  # drop_chunks itself needs the owner
                conn.execute("SELECT drop_chunks('substation_samples', older_than => now())")


@pytest.mark.parametrize("statement", [
    "UPDATE invoices SET total_ttc = 0 WHERE status = 'issued'",
    "TRUNCATE invoice_lines",
    "ALTER TABLE invoices DISABLE TRIGGER ALL",
    "DELETE FROM audit_log",
    "UPDATE billing_audit SET actor = 'personne'",
    "UPDATE invoice_documents SET content = ''",
    "DELETE FROM schema_migrations",
    "DROP TABLE invoice_lines",
    "CREATE TABLE intruse (x int)",
])
def test_what_the_application_role_cannot_do(db: Database, app_url: str, statement: str) -> None:
    with psycopg.connect(app_url, autocommit=True) as conn:
        setup_billing(conn, points=1)
        subscriber(conn, "ABO-1")
        contract(conn, "POL-0001", "ABO-1", "PDL-0001", date(2025, 1, 1))
        remote(conn, "MTR-0001", date(2026, 10, 1), "1000")
        remote(conn, "MTR-0001", date(2026, 11, 1), "9000")
        run_id = simulate_run(conn, date(2026, 10, 1), actor=ACTOR, run_date=date(2026, 11, 3)).run_id
        issue_run(conn, run_id, actor=ACTOR, now=datetime(2026, 11, 3, 9, tzinfo=UTC))
        generate_for(conn, ["FAC-2026-000001"])
        with pytest.raises((psycopg.errors.InsufficientPrivilege, psycopg.errors.IntegrityConstraintViolation)):
            conn.execute(statement)
        assert conn.execute("SELECT count(*) FROM invoice_lines").fetchone() == (5,)


def test_the_app_role_command(db: Database) -> None:
    role = f"regie_app_{uuid.uuid4().hex[:8]}"
    env = {"REGIE_MODE": "development", "REGIE_DATABASE_URL": db.url, "REGIE_APP_ROLE_PASSWORD": "un mot de passe"}
    made = run("db", "migrate", "--app-role", role, env=env)
    assert made.returncode == 0 and f"application role {role}: privileges granted" in made.stdout, made.stderr
    again = run("db", "app-role", role, env=env)
    assert again.returncode == 0 and "updated" in again.stdout
    superuser = run("db", "app-role", "postgres", env=env)
    assert superuser.returncode == 2 and "superuser" in superuser.stderr
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
