"""A landlord with several sites in the portal, over HTTP: its invoices with their site, filtered by site
and by month, each one's HTML page, a month's PDFs in one ZIP archive, its contracts ten to a page with a
site filter; another subscriber's invoice and site are never shown."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, date, datetime, timedelta

import pytest

from billing.issuing import issue_run
from billing.runs import simulate_run
from regie_chaleur.api.app import create_app
from regie_chaleur.db.database import Database
from regie_chaleur.services.documents import generate_run_documents
from tests.billing.support import ACTOR, contract, remote, setup_billing, subscriber
from tests.support.auth import account, signed_in
from tests.support.html import page_text as _text
from tests.support.http_server import serve

SITES = 12


@pytest.fixture
def landlord_site(db: Database) -> Iterator[tuple[Database, str]]:
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
        yield db, base


@pytest.fixture
def landlord(landlord_site: tuple[Database, str]) -> str:
    return landlord_site[1]


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


def test_sites_ranked_by_weather_corrected_change(landlord_site: tuple[Database, str]) -> None:
    """Two years of days on three sites, by hand: PDL-0001 uses 10 % more in a year 20 % colder (less per
    degree day: no drift), PDL-0002 30 % more in the same weather (drift), PDL-0003 the same."""
    db, base = landlord_site
    today = date.today()
    end = today.replace(day=1)
    mid = date(end.year - 1, end.month, 1)
    start = date(end.year - 2, end.month, 1)
    days = [start + timedelta(days=k) for k in range((end - start).days)]
    plan = {"PDL-0001": ((100.0, 8.0), (110.0, 18 - 1.2 * 10)), "PDL-0002": ((100.0, 8.0), (130.0, 8.0)),
            "PDL-0003": ((100.0, 8.0), (100.0, 8.0))}
    with db.pool.connection() as conn, conn.cursor() as cur:
        for code, ((kwh0, t0), (kwh1, t1)) in plan.items():
            device = conn.execute("SELECT m.device_id FROM delivery_points dp JOIN meters m ON m.id = dp.meter_id "
                                  "WHERE dp.code = %s", (code,)).fetchone()[0]
            cur.executemany(
                "INSERT INTO substation_daily (device_id, day, energy_kwh, t_outdoor_min, t_outdoor_max, hours) "
                "VALUES (%s, %s, %s, %s, %s, 24) ON CONFLICT (device_id, day) DO UPDATE SET energy_kwh = "
                "EXCLUDED.energy_kwh, t_outdoor_min = EXCLUDED.t_outdoor_min, t_outdoor_max = EXCLUDED.t_outdoor_max",
                [(device, d, kwh1 if d >= mid else kwh0, (t1 if d >= mid else t0) - 2, (t1 if d >= mid else t0) + 2)
                 for d in days])
    with closing(signed_in(base, "bailleur")) as client:
        answer = client.get("/espace/sites")
        text = _text(answer)
        assert answer.status_code == 200 and "1 site(s) en dérive" in text
        ranked = re.findall(r'href="/espace\?point=(PDL-\d+)"', answer.text)
        assert ranked[:3] == ["PDL-0002", "PDL-0003", "PDL-0001"] and len(ranked) == SITES
        assert "+30,0 % en dérive" in text  # 130 / 100 in the same weather
        # PDL-0001: +10 % raw; per degree day 110 / 12 against 100 / 10: −8,3 %
        assert "+10,0 % -8,3 %" in text  # mean daily use, whatever the days the contract covered
