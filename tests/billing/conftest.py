"""Fixtures of the billing tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import psycopg
import pytest

from billing.records import save_mandate
from billing.runs import simulate_run
from regie_chaleur.db.database import Database
from regie_chaleur.services.billing import credit, issue_with_documents
from tests.billing.support import ACTOR, contract, iban, remote, setup_billing, subscriber

OCT, NOV = date(2026, 10, 1), date(2026, 11, 1)


@pytest.fixture
def issued(db: Database) -> Iterator[psycopg.Connection]:
    """October 2026 issued with documents: POL-0001 (a public school, transfer, Chorus Pro codes), POL-0002 and
    POL-0003 (SEPA mandates never presented yet); a credit note on POL-0001's invoice."""
    with db.pool.connection() as conn:
        setup_billing(conn)
        subscriber(conn, "ECOLE-JC", 1, public_entity="oui", chorus_service_code="SERV-CHAUF",
                   chorus_engagement="EJ-2026-0077", helios_category="23", helios_legal_nature="09")
        contract(conn, "POL-0001", "ECOLE-JC", "PDL-0001", date(2025, 1, 1), category="equipement_public")
        for n, code in ((2, "OPH-A"), (3, "OPH-B")):
            subscriber(conn, code, n)
            save_mandate(conn, {"subscriber": code, "reference": f"RUM-{code}-2026", "signed_on": "2026-01-05",
                                "iban": iban(40 + n)}, actor=ACTOR)
            contract(conn, f"POL-000{n}", code, f"PDL-000{n}", date(2025, 1, 1), category="logement_social",
                     payment_method="sepa", mandate=f"RUM-{code}-2026")
        for i in (1, 2, 3):
            remote(conn, f"MTR-000{i}", OCT, str(480_000 + i))
            remote(conn, f"MTR-000{i}", NOV, str(494_000 + 7 * i))
        run = simulate_run(conn, OCT, actor=ACTOR, run_date=date(2026, 11, 3))
        issue_with_documents(conn, run.run_id, actor=ACTOR)
        credit(conn, "FAC-2026-000001", actor=ACTOR, reason="erreur sur la puissance souscrite",
               lines={2: Decimal("10.00")})
        yield conn
