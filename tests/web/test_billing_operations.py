"""The billing operations of a year from the billing pages, over HTTP as billing staff signed in: readings
with their plausibility warnings, meter replacement, change of occupant, end of contract, power change
inside an invoiced period, guarded runs (confirmation, discard, month not ended), tariff and VAT
closing, reductions and the policy. A form that fails keeps what was typed."""

from __future__ import annotations

import re
from contextlib import closing
from datetime import date
from decimal import Decimal
from html import unescape

import httpx

from billing.runs import simulate_run
from regie_chaleur.db.database import Database
from tests.billing.support import ACTOR, remote
from tests.support.auth import signed_in


def _text(answer: httpx.Response) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", answer.text)).replace("\u202f", " ").replace("\xa0", " ")


def _value(answer: httpx.Response, name: str) -> str | None:
    tag = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', answer.text)
    found = re.search(r'\bvalue="([^"]*)"', tag.group(0)) if tag else None
    return unescape(found.group(1)) if found else None


def test_readings_warn_before_saving_and_keep_what_was_typed(site: tuple[Database, str]) -> None:
    db, base = site
    with closing(signed_in(base, "facturation")) as client:
        page = client.get("/facturation/points-de-livraison/PDL-0001")
        assert page.status_code == 200 and "MTR-0001" in page.text and "POL-0001" in page.text

        lower = {"day": "2026-11-15", "index_kwh": "8 000,5", "kind": "manual", "reason": ""}
        warned = client.post("/facturation/points-de-livraison/PDL-0001/releves", data=lower)
        assert warned.status_code == 409
        assert "inférieur au précédent" in _text(warned) and 'name="confirm"' in warned.text
        assert _value(warned, "index_kwh") == "8 000,5" and _value(warned, "day") == "2026-11-15"
        with db.pool.connection() as conn:
            assert conn.execute("SELECT count(*) FROM meter_readings WHERE kind = 'manual'").fetchone() == (0,)

        saved = client.post("/facturation/points-de-livraison/PDL-0001/releves", data={**lower, "confirm": "oui"})
        assert saved.status_code == 303

        missing_reason = client.post("/facturation/points-de-livraison/PDL-0001/releves",
                                     data={"day": "2026-11-01", "index_kwh": "9001", "kind": "correction"})
        assert missing_reason.status_code == 422 and "obligatoire pour une correction" in _text(missing_reason)
        assert _value(missing_reason, "index_kwh") == "9001"

        corrected = client.post("/facturation/points-de-livraison/PDL-0001/releves", data={
            "day": "2026-11-01", "index_kwh": "9001", "kind": "correction", "reason": "index télérelevé figé",
            "read_at": "2026-11-02T10:15"})
        assert corrected.status_code == 303
        detail = _text(client.get("/facturation/points-de-livraison/PDL-0001"))
        assert "correction d'index" in detail and "index télérelevé figé" in detail and "02/11/2026 10:15" in detail
        assert "8 000,5 kWh" in detail

        not_a_number = client.post("/facturation/points-de-livraison/PDL-0001/releves",
                                   data={"day": "hier", "index_kwh": "douze", "kind": "manual"})
        assert not_a_number.status_code == 422
        assert "« douze » n'est pas un nombre" in _text(not_a_number) and _value(not_a_number, "day") == "hier"


def test_meter_replacement_and_change_of_occupant(site: tuple[Database, str]) -> None:
    db, base = site
    with closing(signed_in(base, "facturation")) as client:
        wrong = client.post("/facturation/points-de-livraison/PDL-0002/compteur", data={
            "at": "2026-11-20T09:30", "old_final_kwh": "-3", "new_serial": "MTR-0001", "new_initial_kwh": "12"})
        assert wrong.status_code == 422
        assert "équipe déjà PDL-0001" in _text(wrong) and "négatif" in _text(wrong)
        assert _value(wrong, "new_serial") == "MTR-0001"

        done = client.post("/facturation/points-de-livraison/PDL-0002/compteur", data={
            "at": "2026-11-20T09:30", "old_final_kwh": "12 345", "new_serial": "MTR-NEUF-1", "new_initial_kwh": "7"})
        assert done.status_code == 303
        detail = _text(client.get("/facturation/points-de-livraison/PDL-0002"))
        assert "MTR-NEUF-1" in detail and "MTR-0002" in detail
        with db.pool.connection() as conn:
            change = conn.execute("SELECT mc.at, o.code, mc.old_final_kwh, n.code, mc.new_initial_kwh, mc.by_whom "
                                  "FROM meter_changes mc JOIN meters o ON o.id = mc.old_meter_id "
                                  "JOIN meters n ON n.id = mc.new_meter_id").fetchall()
        assert [(at.isoformat(), *rest) for at, *rest in change] == [  # 9 h 30 in Paris is 8 h 30 UTC in November
            ("2026-11-20T08:30:00+00:00", "MTR-0002", Decimal("12345.000"), "MTR-NEUF-1", Decimal("7.000"),
             "facturation")]

        refused = client.post("/facturation/points-de-livraison/PDL-0002/occupant", data={
            "last_day": "2026-10-15", "number": "POL-0003", "subscriber": "ABO-1", "category": "copropriete",
            "power_kw": "90", "frequency": "monthly", "payment_method": "transfer"})
        assert refused.status_code == 422
        assert re.search(r"la facture FAC-\S+ couvre jusqu'au 31/10/2026", _text(refused))
        assert _value(refused, "number") == "POL-0003"

        moved = client.post("/facturation/points-de-livraison/PDL-0002/occupant", data={
            "last_day": "2026-11-10", "number": "POL-0003", "subscriber": "ABO-1", "category": "copropriete",
            "power_kw": "90", "frequency": "monthly", "payment_method": "transfer"})
        assert moved.status_code == 303 and moved.headers["location"].startswith("/facturation/contrats/POL-0003")
        new = _text(client.get("/facturation/contrats/POL-0003"))
        assert "du 11/11/2026" in new
        old = _text(client.get("/facturation/contrats/POL-0002"))
        assert "du 01/01/2025 au 10/11/2026" in old and "Émettre la facture de fin" in old


def test_power_change_inside_an_invoiced_period_is_saved_with_its_warning(site: tuple[Database, str]) -> None:
    _db, base = site
    with closing(signed_in(base, "facturation")) as client:
        answer = client.post("/facturation/contrats/POL-0001/puissance",
                             data={"valid_from": "2026-10-15", "power_kw": "150", "reason": "audit de puissance"})
        assert answer.status_code == 200
        assert "Puissance enregistrée" in answer.text and "sera régularisée sur la prochaine facture" in answer.text
        bad = client.post("/facturation/contrats/POL-0001/puissance",
                          data={"valid_from": "2026-12-01", "power_kw": "cent", "reason": "x"})
        assert bad.status_code == 422 and _value(bad, "power_kw") == "cent"


def test_guarded_runs_confirm_discard_and_refuse_a_month_not_ended(site: tuple[Database, str]) -> None:
    db, base = site
    with db.pool.connection() as conn:
        for meter, index in (("MTR-0001", "9500"), ("MTR-0002", "9800")):
            remote(conn, meter, date(2026, 12, 1), index)
        run = simulate_run(conn, date(2026, 11, 1), actor=ACTOR, run_date=date(2026, 12, 1))
    with closing(signed_in(base, "facturation")) as client:
        future = client.post("/facturation/tournees", data={"mois": "2099-01"})
        assert future.status_code == 422 and "est à venir" in _text(future)
        assert _value(future, "mois") == "2099-01"

        review = _text(client.get(f"/facturation/tournees/{run.run_id}"))
        assert "no_tariff" not in review and "Abandonner la tournée" in review
        confirm = client.get(f"/facturation/tournees/{run.run_id}/emettre")
        assert confirm.status_code == 200
        assert f"{run.invoices} facture(s)" in _text(confirm) and _value(confirm, "total_ttc") == str(run.total_ttc)

        stale = client.post(f"/facturation/tournees/{run.run_id}/emettre",
                            data={"factures": str(run.invoices), "total_ttc": "1.00"})
        assert stale.status_code == 409 and "a changé depuis la confirmation" in _text(stale)
        with db.pool.connection() as conn:
            assert conn.execute("SELECT status FROM bill_runs WHERE id = %s", (run.run_id,)).fetchone() == (
                "simulated",)

        discarded = client.post(f"/facturation/tournees/{run.run_id}/abandonner")
        assert discarded.status_code == 303
        with db.pool.connection() as conn:
            assert conn.execute("SELECT count(*) FROM bill_runs WHERE id = %s", (run.run_id,)).fetchone() == (0,)
        issued = client.post("/facturation/tournees/1/abandonner")
        assert issued.status_code == 409
        sepa = client.post("/facturation/tournees/1/sepa", data={"date_prelevement": "2099-01-05"})
        assert sepa.status_code == 422 and "aucune facture à prélever" in _text(sepa)  # both pay by transfer
        assert _value(sepa, "date_prelevement") == "2099-01-05"


def test_tariff_vat_reduction_and_policy_forms(site: tuple[Database, str]) -> None:
    _db, base = site
    with closing(signed_in(base, "facturation")) as client:
        used = client.post("/facturation/tarifs/copropriete/2025-01-01/cloture", data={"valid_to": "2026-10-01"})
        assert used.status_code == 422 and re.search(r"la facture FAC-\S+ applique ce tarif", _text(used))
        assert _value(used, "valid_to") == "2026-10-01"
        closed = client.post("/facturation/tarifs/copropriete/2025-01-01/cloture", data={"valid_to": "2027-01-01"})
        assert closed.status_code == 303

        vat = client.post("/facturation/tva", data={"network": "centre", "valid_from": "2027-01-01",
                                                    "renewable_share_pct": "42,5", "justification": "Bilan 2026"})
        assert vat.status_code == 303
        table = _text(client.get("/facturation/tarifs"))
        assert "42,5 %" in table and "20 %" in table

        reduction = client.post("/facturation/reductions", data={
            "category": "logement_social", "valid_from": "2027-01-01", "percent": "150", "applies_to": "R1R2",
            "deliberation": ""})
        assert reduction.status_code == 422
        assert "délibération" in _text(reduction) and _value(reduction, "percent") == "150"

        policy = client.post("/facturation/politique", data={
            "network": "centre", "r2_proration": "days_in_year", "unit_price_places": "4",
            "implausible_factor": "2", "reading_window_hours": "48", "estimation": "recent_average"})
        assert policy.status_code == 303
        assert "réseau centre" in _text(client.get("/facturation/tarifs"))
        bad = client.post("/facturation/politique", data={
            "r2_proration": "days_in_year", "unit_price_places": "9", "implausible_factor": "2",
            "reading_window_hours": "48", "estimation": "recent_average"})
        assert bad.status_code == 422 and _value(bad, "unit_price_places") == "9"
