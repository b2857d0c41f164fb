"""The web tests' site: two subscribers with an issued invoice each, an account per role, the app
served over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from billing.issuing import issue_run
from billing.runs import simulate_run
from regie_chaleur.api.app import create_app
from regie_chaleur.db.database import Database
from tests.billing.support import ACTOR, contract, remote, setup_billing, subscriber
from tests.support.auth import account
from tests.support.http_server import serve


@pytest.fixture
def site(db: Database) -> Iterator[tuple[Database, str]]:
    """Two subscribers with an issued invoice each; accounts for each role."""
    with db.pool.connection() as conn:
        setup_billing(conn, points=2)
        for i in (1, 2):
            subscriber(conn, f"ABO-{i}", i)
            contract(conn, f"POL-000{i}", f"ABO-{i}", f"PDL-000{i}", date(2025, 1, 1))
            remote(conn, f"MTR-000{i}", date(2026, 10, 1), "1000")
            remote(conn, f"MTR-000{i}", date(2026, 11, 1), str(9000 + i))
        run = simulate_run(conn, date(2026, 10, 1), actor=ACTOR, run_date=date(2026, 11, 3))
        issue_run(conn, run.run_id, actor=ACTOR, now=datetime(2026, 11, 3, 9, tzinfo=UTC))
    for login, role, sub in (("operatrice", "operator", None), ("facturation", "billing", None),
                             ("abonne-un", "subscriber", "ABO-1"), ("abonne-deux", "subscriber", "ABO-2"),
                             ("administratrice", "admin", None)):
        account(db, role, sub, login=login)
    with serve(create_app(db, request_threads=1)) as base:  # one request at a time, as `serve` runs it
        yield db, base
