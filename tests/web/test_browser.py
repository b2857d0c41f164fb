"""The three people's journeys in a real browser (Debian's Chromium, headless, driven by Playwright):
an operator acknowledges an alarm; billing staff simulate and issue a run and download a PDF; a
subscriber sees their chart, downloads their invoice and cannot reach another subscriber's. Every page
must load without a console error (a Content-Security-Policy violation would be one)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from billing.documents.facturx import extract_xml
from regie_chaleur.api.app import create_app
from regie_chaleur.db.database import Database
from regie_chaleur.operations.alarms import evaluate_alarms
from tests.billing.support import contract, remote, setup_billing, subscriber
from tests.billing.test_documents import daily_history
from tests.support.auth import PASSWORD, account
from tests.support.http_server import serve

CHROMIUM = os.environ.get("REGIE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/install-system-deps installs Debian's chromium")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def site(db: Database) -> Iterator[tuple[Database, str]]:
    """Three delivery points with readings for October 2026, two subscribers, consumption history,
    alarms raised (the devices have been silent), an account per role."""
    with db.pool.connection() as conn:
        setup_billing(conn, points=3)
        for i in (1, 2):
            subscriber(conn, f"ABO-{i}", i)
            contract(conn, f"POL-000{i}", f"ABO-{i}", f"PDL-000{i}", date(2025, 1, 1))
            remote(conn, f"MTR-000{i}", date(2026, 10, 1), "480000")
            remote(conn, f"MTR-000{i}", date(2026, 11, 1), str(494_000 + i))
            daily_history(conn, f"DEV-000{i}", scale=i)
        device = conn.execute("SELECT id FROM devices WHERE code = 'DEV-0003'").fetchone()
        assert device is not None
        conn.execute("INSERT INTO substation_samples (time, device_id, power, power_q) VALUES (%s, %s, 100, 0)",
                     (datetime.now(UTC) - timedelta(hours=2), device[0]))
        evaluate_alarms(conn, datetime.now(UTC))  # DEV-0003 stopped answering: communication lost
    for login, role, sub in (("operatrice", "operator", None), ("facturation", "billing", None),
                             ("abonne-un", "subscriber", "ABO-1"), ("administratrice", "admin", None)):
        account(db, role, sub, login=login)
    with serve(create_app(db, request_threads=1)) as base:  # one request at a time, as `serve` runs it
        yield db, base


def sign_in(browser: Browser, base: str, login: str) -> tuple[Page, list[str]]:
    context = browser.new_context(base_url=base, accept_downloads=True, locale="fr-FR", timezone_id="Europe/Paris")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if _is_error(m) else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto("/connexion")
    page.get_by_label("Identifiant").fill(login)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_load_state("networkidle")
    return page, errors


def _is_error(message: ConsoleMessage) -> bool:
    return message.type == "error"


AXE = Axe()  # axe-core, bundled by axe-playwright-python
MAIN_PAGES = {
    "operatrice": ["/exploitation", "/exploitation/sous-stations", "/exploitation/sous-stations/SST-0001",
                   "/exploitation/alarmes", "/exploitation/prevision", "/exploitation/equipements",
                   "/exploitation/interventions", "/exploitation/interventions/nouvelle", "/exploitation/demandes",
                   "/exploitation/coupures", "/exploitation/coupures/nouvelle", "/exploitation/astreinte"],
    "facturation": ["/facturation", "/facturation/factures", "/facturation/abonnes", "/facturation/abonnes/nouveau",
                    "/facturation/contrats", "/facturation/contrats/POL-0001", "/facturation/points-de-livraison",
                    "/facturation/tarifs", "/facturation/titres", "/facturation/encaissements",
                    "/facturation/relances", "/facturation/mensualisation", "/facturation/balance-agee"],
    "abonne-un": ["/espace", "/espace/sites", "/espace/factures", "/espace/contrat", "/espace/demandes",
                  "/espace/interventions"],
    "administratrice": ["/admin/comptes"],
}


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page (WCAG 2.1 A/AA rules, as RGAA asks)."""
    found = AXE.run(page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a",
                                                                          "wcag21aa"]}})
    return [f"{page.url}: {v['id']} ({v['impact']}) {v['help']}: {[n['target'] for n in v['nodes']][:3]}"
            for v in found.response["violations"] if v["impact"] in ("serious", "critical")]


def test_main_pages_have_no_serious_accessibility_violation(browser: Browser, site: tuple[Database, str]) -> None:
    _, base = site
    anonymous = browser.new_page(base_url=base)
    anonymous.goto("/connexion")
    violations = serious_violations(anonymous)
    for login, paths in MAIN_PAGES.items():
        page, errors = sign_in(browser, base, login)
        for path in paths:
            answer = page.goto(path)
            assert answer is not None and answer.status == 200, path
            page.wait_for_load_state("networkidle")
            violations += serious_violations(page)
        assert errors == []
    assert not violations, "\n".join(violations)


def test_operator_acknowledges_an_alarm(browser: Browser, site: tuple[Database, str]) -> None:
    db, base = site
    page, errors = sign_in(browser, base, "operatrice")
    expect(page.get_by_role("heading", name="Vue d'ensemble du réseau")).to_be_visible()
    page.locator("#load-chart").wait_for()
    page.get_by_role("link", name="Alarmes", exact=True).first.click()
    row = page.locator("tr", has_text="communication perdue").first
    row.get_by_placeholder("commentaire").fill("appel au gardien, coupure électrique du local")
    row.get_by_role("button", name="Acquitter").click()
    expect(page.get_by_role("status")).to_contain_text("Alarme acquittée.")
    with db.pool.connection() as conn:
        acked = conn.execute("SELECT acknowledged_by, ack_comment FROM alarms WHERE state = 'acknowledged'").fetchall()
    assert acked == [("operatrice", "appel au gardien, coupure électrique du local")]
    page.goto("/exploitation/sous-stations/SST-0003")
    expect(page.locator("#series .uplot, #series:has-text('Pas encore')")).to_be_visible()
    assert errors == []


def test_billing_simulates_issues_and_downloads_a_pdf(browser: Browser, site: tuple[Database, str]) -> None:
    db, base = site
    page, errors = sign_in(browser, base, "facturation")
    page.get_by_label("Mois facturé").fill("2026-10")
    page.get_by_role("button", name="Calculer les brouillons").click()
    expect(page.locator("#job")).to_contain_text("Terminé : 2 brouillon(s), 0 exception(s) bloquante(s)",
                                                 timeout=60_000)
    page.get_by_role("link", name="Voir la tournée").click()
    expect(page.get_by_role("heading", name=re.compile("Tournée n° .* octobre 2026"))).to_be_visible()
    page.get_by_role("link", name="Émettre les factures…").click()  # the count and total, to confirm
    expect(page.get_by_text("Vous allez émettre 2 facture(s)")).to_be_visible()
    page.get_by_role("button", name="Confirmer l'émission de 2 facture(s)").click()
    expect(page.locator("#job")).to_contain_text("2 facture(s) émise(s)", timeout=60_000)
    page.get_by_role("link", name="Voir la tournée").click()
    page.get_by_role("link", name=re.compile(r"FAC-\d{4}-000001")).click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Télécharger le PDF").click()
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF-") and b"<rsm:CrossIndustryInvoice" in extract_xml(pdf)  # the Factur-X
    with db.pool.connection() as conn:
        issued = conn.execute("SELECT count(*) FROM invoices WHERE status = 'issued'").fetchone()
    assert issued == (2,)
    assert errors == []


def test_subscriber_sees_their_chart_and_invoice_and_nothing_else(browser: Browser, site: tuple[Database, str]) -> None:
    db, base = site
    from billing.issuing import issue_run
    from billing.runs import simulate_run
    from regie_chaleur.services.documents import generate_for

    with db.pool.connection() as conn:
        run = simulate_run(conn, date(2026, 10, 1), actor="test", run_date=date(2026, 11, 3))
        issue_run(conn, run.run_id, actor="test")
        numbers = dict(conn.execute("SELECT s.code, i.number FROM invoices i JOIN subscribers s "
                                    "ON s.id = i.subscriber_id").fetchall())
        generate_for(conn, list(numbers.values()))
    page, errors = sign_in(browser, base, "abonne-un")
    expect(page.get_by_role("heading", name="Ma consommation")).to_be_visible()
    expect(page.locator("#monthly .uplot canvas")).to_be_visible()  # the 13-month chart is drawn
    expect(page.locator("#daily .uplot canvas")).to_be_visible()
    page.get_by_role("link", name="Mes factures").click()
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile(r"Télécharger FAC-.* \(PDF\)")).first.click()
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF-")
    assert numbers["ABO-2"] not in page.content()
    assert errors == []  # before the deliberate refusals below, which the browser logs as failed loads
    other = page.goto(f"/espace/factures/{numbers['ABO-2']}.pdf")
    assert other is not None and other.status == 404
    expect(page.get_by_role("heading", name="Page introuvable")).to_be_visible()
    staff = page.goto("/facturation")
    assert staff is not None and staff.status == 403


PHONE_PAGES = {
    "operatrice": ["/exploitation", "/exploitation/sous-stations", "/exploitation/sous-stations/SST-0001",
                   "/exploitation/alarmes", "/exploitation/equipements", "/exploitation/interventions",
                   "/exploitation/astreinte", "/exploitation/coupures"],
    "facturation": ["/facturation", "/facturation/factures", "/facturation/abonnes", "/facturation/tarifs"],
    "abonne-un": ["/espace", "/espace/sites", "/espace/factures", "/espace/contrat", "/espace/demandes",
                  "/espace/interventions"],
}


WIDEST = """Array.from(document.querySelectorAll('body *')).filter((e) => e.getBoundingClientRect().right > 361
  && !Array.from(e.children).some((c) => c.getBoundingClientRect().right > 361)).slice(0, 4)
  .map((e) => e.tagName + '.' + e.className + ' ' + (e.textContent || '').trim().slice(0, 30)).join(' | ')"""


def test_pages_fit_a_phone(browser: Browser, site: tuple[Database, str]) -> None:
    """At 360 px wide, no page scrolls sideways, the charts are drawn, and an alarm is acknowledged without
    scrolling sideways."""
    _, base = site
    too_wide = []
    for login, paths in PHONE_PAGES.items():
        page, errors = sign_in(browser, base, login)
        page.set_viewport_size({"width": 360, "height": 740})
        for path in paths:
            answer = page.goto(path)
            assert answer is not None and answer.status == 200, path
            page.wait_for_load_state("networkidle")
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > 361:
                culprits = page.evaluate(WIDEST)
                too_wide.append(f"{login} {path}: {width} px ({culprits})")
            if path == "/espace":
                expect(page.locator("#monthly .uplot canvas")).to_be_visible()
                expect(page.locator("#daily .uplot canvas")).to_be_visible()
            if path == "/exploitation/alarmes":
                button = page.get_by_role("button", name="Acquitter").first
                box = button.bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360
                button.click()
                expect(page.get_by_role("status")).to_contain_text("Alarme acquittée.")
        assert errors == []
    assert too_wide == []
