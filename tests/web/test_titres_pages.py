"""The titres de recettes from the billing pages, over HTTP as billing staff signed in: the Hélios settings
form (refused values kept and named), a run's titres emitted from its page once its PDFs exist, the PES V2
file listed and downloaded (valid against the DGFiP's schema), the titre shown on the invoice's page;
other roles are refused."""

from __future__ import annotations

import re
from contextlib import closing
from datetime import UTC, date, datetime
from decimal import Decimal

from billing.bank import import_statement
from billing.camt import Entry, Return, build_camt054, build_statement
from billing.identifiers import creditor_reference
from billing.pes.retour import Emargement, TitreStatus, build_pes_retour
from billing.pes.schema import schema_errors
from billing.runs import simulate_run
from regie_chaleur.db.database import Database
from regie_chaleur.services.documents import generate_run_documents
from tests.billing.support import ACTOR, remote
from tests.support.auth import signed_in
from tests.support.html import page_text as _text


def test_titres_from_the_settings_to_the_file(site: tuple[Database, str]) -> None:
    db, base = site
    with db.pool.connection() as conn:
        run_id = conn.execute("SELECT max(id) FROM bill_runs").fetchone()[0]
    with closing(signed_in(base, "facturation")) as client:
        home = client.get("/facturation/titres")
        assert home.status_code == 200 and "2 facture(s) et 0 avoir(s) émis sans titre" in _text(home)

        refused = client.post("/facturation/titres/reglages", data={
            "collection": "accountant", "id_post": "94O21", "cod_col": "41", "cod_bud": "02", "product_code": "CHAL",
            "nature": "70613"})
        assert refused.status_code == 422
        text = _text(refused)
        assert "« 94O21 » invalide : 6 ou 7 chiffres" in text and "« 41 » invalide : 3 chiffres" in text
        assert 'value="94O21"' in refused.text  # what was typed is kept

        not_yet = client.post(f"/facturation/tournees/{run_id}/titres")
        assert not_yet.status_code == 422 and "identifiants Hélios à renseigner" in _text(not_yet)
        saved = client.post("/facturation/titres/reglages", data={
            "collection": "accountant", "id_post": "094021", "cod_col": "041", "cod_bud": "02", "product_code": "CHAL",
            "nature": "70613"})
        assert saved.status_code == 303

        no_pdf = client.post(f"/facturation/tournees/{run_id}/titres")
        assert no_pdf.status_code == 422 and "PDF pas encore générés pour 2 document(s)" in _text(no_pdf)
        with db.pool.connection() as conn:
            generate_run_documents(conn, run_id)
        done = client.post(f"/facturation/tournees/{run_id}/titres")
        assert done.status_code == 303
        run_page = _text(client.get(done.headers["location"]))
        assert "2 titre(s) émis, bordereau n° 1" in run_page and "Émettre les titres de la tournée" not in run_page

        files = client.get("/facturation/titres")
        link = re.search(r'href="(/facturation/titres/fichiers/\d+)"', files.text)
        assert link and "0 facture(s) et 0 avoir(s) émis sans titre" in _text(files)
        pes = client.get(link.group(1))
        assert pes.status_code == 200 and pes.headers["content-type"].startswith("application/xml")
        assert 'filename="PES_04102_2026_00001.xml"' in pes.headers["content-disposition"]
        assert schema_errors(pes.content) == []

        invoice = _text(client.get("/facturation/factures/FAC-2026-000001"))
        assert "Titre de recettes n° 1" in invoice and "transmis au comptable" in invoice
        assert "du 01/10/2026 au 31/10/2026" in invoice

        # the accountant's answer: titre 1 taken in charge and paid 100 €, titre 2 rejected
        with db.pool.connection() as conn:
            siret = conn.execute("SELECT siret FROM billing_issuer").fetchone()[0]
        retour = build_pes_retour(siret, "041", "02", "094021", [
            TitreStatus(2026, 1, "01", 1, "taken", None, date(2026, 11, 12),
                        (Emargement("02", date(2026, 12, 1), Decimal("100.00")),)),
            TitreStatus(2026, 1, "01", 2, "rejected", "Débiteur inconnu à l'adresse indiquée", date(2026, 11, 12))],
            {}, "retour", date(2026, 12, 2))
        empty = client.post("/facturation/titres/retour", files={"fichier": ("vide.xml", b"", "text/xml")})
        assert empty.status_code == 422 and "vide.xml : fichier vide" in _text(empty)
        garbage = client.post("/facturation/titres/retour", files={"fichier": ("x.xml", b"<a>", "text/xml")})
        assert garbage.status_code == 422 and "x.xml : " in _text(garbage)
        imported = client.post("/facturation/titres/retour", files={"fichier": ("retour.xml", retour, "text/xml")})
        text = _text(imported)
        assert imported.status_code == 200 and "2 titre(s), 2 changement(s) d'état, 1 encaissement(s)" in text
        assert "Rejeté : FAC-2026-000002 (titre n° 2) : Débiteur inconnu à l'adresse indiquée" in text
        again = client.post("/facturation/titres/retour", files={"fichier": ("retour.xml", retour, "text/xml")})
        assert "déjà importé, rien n'a changé" in _text(again)
        invoice = _text(client.get("/facturation/factures/FAC-2026-000001"))
        assert "pris en charge" in invoice and "01/12/2026 : 100,00 € (encaissement)" in invoice
        assert "(réglé : 100,00 €)" in invoice
        assert "rejeté : Débiteur inconnu" in _text(client.get("/facturation/factures/FAC-2026-000002"))


def test_titres_pages_are_billing_staff_only(site: tuple[Database, str]) -> None:
    _, base = site
    for login in ("operatrice", "abonne-un"):
        with closing(signed_in(base, login)) as client:
            assert client.get("/facturation/titres").status_code == 403
            assert client.post("/facturation/titres/emettre").status_code == 403
            assert client.get("/facturation/titres/fichiers/1").status_code == 403


def test_bank_statement_matched_and_a_line_assigned_by_hand(site: tuple[Database, str]) -> None:
    db, base = site
    with db.pool.connection() as conn:
        total = conn.execute("SELECT total_ttc FROM invoices WHERE number = 'FAC-2026-000001'").fetchone()[0]
    statement = build_statement("FR7630001007941234567890185", [
        Entry(total, date(2026, 12, 1), "ABO UN", reference=creditor_reference("FAC-2026-000001")),
        Entry(Decimal("40.00"), date(2026, 12, 1), "QUELQU'UN", text="chauffage")], "ST-9",
        datetime(2026, 12, 2, 7, tzinfo=UTC))
    with closing(signed_in(base, "facturation")) as client:
        imported = client.post("/facturation/encaissements/releve",
                               files={"fichier": ("releve.xml", statement, "text/xml")})
        text = _text(imported)
        assert imported.status_code == 200 and "2 crédit(s) nouveau(x)" in text and "1 rapproché(s)" in text
        assert "1 à affecter" in text and "QUELQU'UN" in text
        line = re.search(r'action="/facturation/encaissements/lignes/(\d+)"', imported.text)
        assert line
        wrong = client.post(f"/facturation/encaissements/lignes/{line.group(1)}", data={"facture": "FAC-1"})
        assert wrong.status_code == 422 and "facture FAC-1 inconnue" in _text(wrong) and 'value="FAC-1"' in wrong.text
        done = client.post(f"/facturation/encaissements/lignes/{line.group(1)}",
                           data={"facture": "FAC-2026-000002"})
        assert done.status_code == 303
        page = _text(client.get(done.headers["location"]))
        assert "Paiement affecté." in page and "Aucune ligne en attente." in page and "affecté à la main" in page
        invoice = _text(client.get("/facturation/factures/FAC-2026-000001"))
        assert "Reste dû 0,00 €" in invoice
        aged = client.get("/facturation/balance-agee")
        assert aged.status_code == 200 and "ABO-2" in _text(aged) and "ABO-1" not in _text(aged)
        with db.pool.connection() as conn:
            sub = conn.execute("SELECT id FROM subscribers WHERE code = 'ABO-2'").fetchone()[0]
        account = _text(client.get(f"/facturation/abonnes/{sub}/compte"))
        assert "Compte de" in account and "FAC-2026-000002" in account and "Paiement reçu" in account
        assert client.get("/facturation/abonnes/999999/compte").status_code == 404


def test_the_portal_shows_what_is_owed_and_never_a_draft(site: tuple[Database, str]) -> None:
    db, base = site
    with db.pool.connection() as conn:
        total = conn.execute("SELECT total_ttc FROM invoices WHERE number = 'FAC-2026-000001'").fetchone()[0]
        import_statement(conn, build_statement("FR7630001007941234567890185", [
            Entry(total, date(2026, 12, 1), "ABO UN", reference=creditor_reference("FAC-2026-000001"))], "ST-P",
            datetime(2026, 12, 2, 7, tzinfo=UTC)), "p.xml", actor=ACTOR)
        remote(conn, "MTR-0001", date(2026, 12, 1), "12000")
        simulate_run(conn, date(2026, 11, 1), actor=ACTOR, run_date=date(2026, 12, 3))  # drafts, not issued
    with closing(signed_in(base, "abonne-un")) as client:
        text = _text(client.get("/espace/factures"))
        assert "FAC-2026-000001" in text and "réglée" in text and creditor_reference("FAC-2026-000001") in text
        assert "du 01/10/2026 au 31/10/2026" in text
        assert "Reste à payer : 0,00 €" in text
        assert "None" not in text and "01/11/2026 au 30/11/2026" not in text  # November's draft is not shown
    with closing(signed_in(base, "abonne-deux")) as client:
        text = _text(client.get("/espace/factures"))
        assert "FAC-2026-000002" in text and "réglée" not in text and "FAC-2026-000001" not in text


def test_direct_debit_returns_uploaded(site: tuple[Database, str]) -> None:
    _, base = site
    notice = build_camt054("FR7630001007941234567890185", [
        Return("FAC-2026-000002", "AM04", Decimal("10.00"), date(2026, 12, 10))], "NTF-W",
        datetime(2026, 12, 11, 7, tzinfo=UTC))
    with closing(signed_in(base, "facturation")) as client:
        done = client.post("/facturation/encaissements/retours", files={"fichier": ("avis.xml", notice, "text/xml")})
        text = _text(done)
        assert done.status_code == 200 and "0 prélèvement(s) revenu(s) impayé(s)" in text
        assert "Ignoré : FAC-2026-000002 : aucun prélèvement connu sous cette référence (facture ou échéance)" in text
        bad = client.post("/facturation/encaissements/retours", files={"fichier": ("x.xml", b"<a/>", "text/xml")})
        assert bad.status_code == 422 and "ni un compte rendu pain.002 ni un avis camt.054" in _text(bad)


def test_reminders_page(site: tuple[Database, str]) -> None:
    _, base = site
    with closing(signed_in(base, "facturation")) as client:
        listed = client.get("/facturation/relances")
        assert listed.status_code == 200 and "FAC-2026-000001" in _text(listed)
        empty = client.post("/facturation/relances", data={})
        assert empty.status_code == 422 and "cochez au moins une facture" in _text(empty)
        csv = client.get("/facturation/relances/comptable.csv")
        assert csv.status_code == 200 and csv.text.lstrip("\ufeff").startswith("Facture;Abonné;Nom;Échéance")
    with closing(signed_in(base, "abonne-un")) as client:
        assert client.get("/facturation/relances").status_code == 403
