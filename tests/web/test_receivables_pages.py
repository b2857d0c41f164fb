"""Receivables from the pages, over HTTP: the account statement (billing staff and the subscriber's own),
the monthly instalments chosen, collected by pain.008 and cancelled, and online payment through PayFiP
(a stand-in for the DGFiP's web service over real HTTP): the subscriber sent to PayFiP's page with the
amount still due, the result asked of PayFiP, never taken from the request."""

from __future__ import annotations

import re
from contextlib import closing
from datetime import date, timedelta

import httpx
from lxml import etree

from regie_chaleur.db.database import Database
from tests.support.auth import signed_in
from tests.support.html import page_text as _text
from tests.support.payfip import fake_payfip


def test_account_statements(site: tuple[Database, str]) -> None:
    db, base = site
    with db.pool.connection() as conn:
        sub = conn.execute("SELECT id FROM subscribers WHERE code = 'ABO-1'").fetchone()[0]
    with closing(signed_in(base, "facturation")) as client:
        pdf = client.get(f"/facturation/abonnes/{sub}/releve.pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert client.get("/facturation/abonnes/999999/releve.pdf").status_code == 404
        assert "Relevé de compte (PDF)" in _text(client.get(f"/facturation/abonnes/{sub}/compte"))
    with closing(signed_in(base, "abonne-un")) as client:
        own = client.get("/espace/releve.pdf")
        assert own.status_code == 200 and own.content.startswith(b"%PDF")
        assert client.get(f"/facturation/abonnes/{sub}/releve.pdf").status_code == 403


def test_instalments_chosen_collected_and_cancelled(site: tuple[Database, str]) -> None:
    db, base = site
    today = date.today()
    start = date(today.year + (today.month == 12), today.month % 12 + 1, 1)
    with db.pool.connection() as conn:
        conn.execute("INSERT INTO sepa_mandates (subscriber_id, reference, signed_on, iban, bic) SELECT id, "
                     "'RUM-ABO-1', '2026-01-05', 'FR7630006000011234567890189', 'AGRIFRPP' FROM subscribers "
                     "WHERE code = 'ABO-1'")
    with closing(signed_in(base, "facturation")) as client:
        refused = client.post("/facturation/mensualisation", data={
            "subscriber": "ABO-2", "period_start": f"{start:%Y-%m}", "months": "13", "debit_day": "5",
            "expected": "1200"})
        assert refused.status_code == 422 and "de 2 à 12 échéances" in _text(refused)
        assert 'value="ABO-2"' in refused.text
        no_mandate = client.post("/facturation/mensualisation", data={
            "subscriber": "ABO-2", "period_start": f"{start:%Y-%m}", "months": "12", "debit_day": "5",
            "expected": "1200"})
        assert no_mandate.status_code == 422 and "n'a pas de mandat SEPA actif" in _text(no_mandate)
        done = client.post("/facturation/mensualisation", data={
            "subscriber": "ABO-1", "period_start": f"{start:%Y-%m}", "months": "12", "debit_day": "5",
            "expected": "1 000,00"})
        assert done.status_code == 303
        listed = _text(client.get(done.headers["location"]))
        assert "Mensualisation enregistrée." in listed and "12 × 83,33 € (dernière 83,37 €)" in listed
        first = date(start.year, start.month, 5)
        collected = client.post("/facturation/mensualisation/prelevements",
                                data={"collection_date": first.isoformat()})
        assert collected.status_code == 200
        doc = etree.fromstring(collected.content)
        ns = {"p": doc.nsmap[None]}
        assert doc.xpath("//p:InstdAmt/text()", namespaces=ns) == ["83.33"]
        assert doc.xpath("//p:SeqTp/text()", namespaces=ns) == ["FRST"]
        past = client.post("/facturation/mensualisation/prelevements",
                           data={"collection_date": (today - timedelta(days=1)).isoformat()})
        assert past.status_code == 422 and "passée" in _text(past)
        plan = re.search(r'action="/facturation/mensualisation/(\d+)/regularisation"', client.get(
            "/facturation/mensualisation").text)
        assert plan is None  # the period has not ended: no regularisation offered
        plan_id = re.search(r'action="/facturation/mensualisation/(\d+)/annulation"',
                            client.get("/facturation/mensualisation").text)
        assert plan_id
        early = client.post(f"/facturation/mensualisation/{plan_id.group(1)}/regularisation")
        assert early.status_code == 422 and "après la fin de la période" in _text(early)
        assert client.post(f"/facturation/mensualisation/{plan_id.group(1)}/annulation").status_code == 303
        assert "annulé" in _text(client.get("/facturation/mensualisation"))
    with closing(signed_in(base, "abonne-un")) as client:
        assert client.get("/facturation/mensualisation").status_code == 403


def test_online_payment_through_payfip(site: tuple[Database, str]) -> None:
    db, base = site
    with db.pool.connection() as conn:
        conn.execute("UPDATE subscribers SET email = 'abo1@example.org' WHERE code = 'ABO-1'")
        due = conn.execute("SELECT due FROM invoice_dues WHERE number = 'FAC-2026-000001'").fetchone()[0]
    with fake_payfip() as payfip, closing(signed_in(base, "facturation")) as staff, \
            closing(signed_in(base, "abonne-un")) as subscriber:
        assert "Payer en ligne" not in subscriber.get("/espace/factures").text  # not configured yet
        assert subscriber.post("/espace/factures/FAC-2026-000001/payer").status_code == 404
        wrong = staff.post("/facturation/titres/payfip", data={"numcli": "12AB", "mode": "T"})
        assert wrong.status_code == 422 and "« 12AB » invalide : 6 chiffres" in _text(wrong)
        saved = staff.post("/facturation/titres/payfip", data={
            "numcli": "012345", "mode": "T", "service_url": payfip.url, "payment_url": "https://payfip.example/tpa"})
        assert saved.status_code == 303

        invoices = subscriber.get("/espace/factures")
        assert "Payer en ligne" in invoices.text
        assert subscriber.post("/espace/factures/FAC-2026-000002/payer").status_code == 404  # not theirs
        started = subscriber.post("/espace/factures/FAC-2026-000001/payer")
        assert started.status_code == 303
        assert started.headers["location"] == "https://payfip.example/tpa?idop=OP000000"
        asked = payfip.requests[0]
        assert "<numcli>012345</numcli>" in asked and "<refdet>FAC2026000001</refdet>" in asked
        assert f"<montant>{int(due * 100)}</montant>" in asked and "<saisie>T</saisie>" in asked
        assert "<mel>abo1@example.org</mel>" in asked and "/paiement/payfip/notification</urlnotif>" in asked

        # PayFiP's notification: the result is asked of PayFiP; a forged operation id is unknown
        with httpx.Client(base_url=base) as anyone:
            assert anyone.post("/paiement/payfip/notification", data={"idop": "FORGED1"}).status_code == 404
            assert anyone.post("/paiement/payfip/notification", data={"idop": "OP000000"}).status_code == 200
        assert "<idOp>OP000000</idOp>" in payfip.requests[-1]
        back = subscriber.get("/espace/paiement", params={"idop": "OP000000"})
        assert back.status_code == 200 and "est accepté" in _text(back)
        assert "payée en ligne, en cours d'enregistrement" in _text(subscriber.get("/espace/factures"))
        with closing(signed_in(base, "abonne-deux")) as other:
            assert other.get("/espace/paiement", params={"idop": "OP000000"}).status_code == 404

        payfip.fail = True  # PayFiP refusing: the subscriber is told, in French, nothing is recorded
        with db.pool.connection() as conn:
            conn.execute("UPDATE subscribers SET email = 'abo2@example.org' WHERE code = 'ABO-2'")
        with closing(signed_in(base, "abonne-deux")) as other:
            refused = other.post("/espace/factures/FAC-2026-000002/payer")
            assert refused.status_code == 502 and "PayFiP refuse : Numéro client inconnu" in _text(refused)
        with db.pool.connection() as conn:
            assert conn.execute("SELECT count(*) FROM online_payments").fetchone()[0] == 1
