"""A landlord with several sites in the portal, over HTTP: its invoices with their site, filtered by site
and by month, each one's HTML page, a month's PDFs in one ZIP archive, its contracts ten to a page with a
site filter; another subscriber's invoice and site are never shown."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, date, datetime
from html import unescape

import httpx
import pytest

from billing.issuing import issue_run
from billing.runs import simulate_run
from regie_chaleur.api.app import create_app
from regie_chaleur.db.database import Database
from regie_chaleur.services.documents import generate_run_documents
from tests.billing.support import ACTOR, contract, remote, setup_billing, subscriber
from tests.support.auth import account, signed_in
from tests.support.http_server import serve

SITES = 12


def _text(answer: httpx.Response) -> str:
    text = unescape(re.sub(r"<[^>]+>", " ", answer.text)).replace("\u202f", " ").replace("\xa0", " ")
    return " ".join(text.split())


@pytest.fixture
def landlord(db: Database) -> Iterator[str]:
    """A landlord with 12 sites billed for September and October 2026 (PDFs generated), a neighbour with one."""
    with db.pool.connection() as conn:
        setup_billing(conn, points=SITES + 1)
        subscriber(conn, "BAILLEUR", 1)
        subscriber(conn, "VOISIN", 2)
        for i in range(1, SITES + 2):
            contract(conn, f"POL-{i:04d}", "BAILLEUR" if i <= SITES else "VOISIN", f"PDL-{i:04d}", date(2025, 1, 1))
            for month, index in ((9, 1000), (10, 5000 + i), (11, 9000 + i)):
                remote(conn, f"MTR-{i:04d}", date(2026, month, 1), str(index))
        for month, day in ((date(2026, 9, 1), date(2026, 10, 3)), (date(2026, 10, 1), date(2026, 11, 3))):
            run = simulate_run(conn, month, actor=ACTOR, run_date=day)
            issue_run(conn, run.run_id, actor=ACTOR, now=datetime.combine(day, datetime.min.time(), UTC))
            generate_run_documents(conn, run.run_id, workers=1)
    account(db, "subscriber", "BAILLEUR", login="bailleur")
    account(db, "subscriber", "VOISIN", login="voisin")
    with serve(create_app(db, request_threads=1)) as base:
        yield base


def test_invoices_by_site_and_month(landlord: str) -> None:
    with closing(signed_in(landlord, "bailleur")) as client:
        listed = client.get("/espace/factures")
        text = _text(listed)
        assert listed.status_code == 200 and f"{2 * SITES} document(s)" in text
        assert "PDL-0001" in text and "PDL-0013" not in text  # the neighbour's site is not theirs
        assert 'href="/espace/factures/FAC-' in listed.text
        assert f"tous mes sites ({SITES})" in text

        one_site = _text(client.get("/espace/factures", params={"site": "PDL-0003"}))
        assert "2 document(s) pour le site PDL-0003" in one_site
        october = client.get("/espace/factures", params={"mois": "2026-10"})
        assert f"{SITES} document(s), mois 2026-10" in _text(october)
        assert "du 01/10/2026 au 31/10/2026" in _text(october) and "du 01/09/2026" not in _text(october)
        assert client.get("/espace/factures", params={"site": "PDL-0013"}).status_code == 200  # not theirs: ignored
        bad = client.get("/espace/factures", params={"mois": "2026-13"})
        assert bad.status_code == 422 and "mois « 2026-13 » invalide" in _text(bad)

        number = re.search(r'href="/espace/factures/(FAC-[0-9-]+)"', october.text)
        assert number
        page = client.get(f"/espace/factures/{number.group(1)}")
        assert page.status_code == 200
        detail = _text(page)
        assert "du 01/10/2026 au 31/10/2026" in detail and "Total TTC" in detail and "Site PDL-" in detail

        archive = client.get("/espace/factures/archive.zip", params={"mois": "2026-10"})
        assert archive.status_code == 200 and archive.headers["content-type"] == "application/zip"
        names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
        assert len(names) == SITES and all(n.endswith(".pdf") for n in names)
        one = client.get("/espace/factures/archive.zip", params={"mois": "2026-10", "site": "PDL-0002"})
        assert len(zipfile.ZipFile(io.BytesIO(one.content)).namelist()) == 1
        assert client.get("/espace/factures/archive.zip").status_code == 422  # which month?

    with closing(signed_in(landlord, "voisin")) as neighbour:
        assert neighbour.get(f"/espace/factures/{number.group(1)}").status_code == 404
        zipped = neighbour.get("/espace/factures/archive.zip", params={"mois": "2026-10", "site": "PDL-0002"})
        assert zipped.status_code == 404


def test_contracts_ten_to_a_page(landlord: str) -> None:
    with closing(signed_in(landlord, "bailleur")) as client:
        first = _text(client.get("/espace/contrat"))
        assert "Mes contrats" in first and f"{SITES} contrat(s)" in first
        assert "Contrat POL-0010" in first and "Contrat POL-0011" not in first
        assert f"1–10 sur {SITES}" in first
        second = _text(client.get("/espace/contrat", params={"offset": 10}))
        assert "Contrat POL-0011" in second and "Contrat POL-0001 " not in second
        one = _text(client.get("/espace/contrat", params={"site": "PDL-0007"}))
        assert "Contrat POL-0007" in one and "Contrat POL-0001 " not in one
