"""The billing API over HTTP: validation errors field by field, a run simulated then issued, an invoice,
a credit note, and the statuses of what cannot be done."""

from __future__ import annotations

from datetime import date

import httpx

from regie_chaleur.api.app import create_app
from regie_chaleur.db.database import Database
from tests.billing.support import contract, remote, setup_billing, siren, siret, subscriber
from tests.support.auth import bearer
from tests.support.http_server import serve


def test_billing_api(db: Database) -> None:
    with db.pool.connection() as conn:
        setup_billing(conn, points=2)
        remote(conn, "MTR-0001", date(2026, 10, 1), "1000")
        remote(conn, "MTR-0001", date(2026, 11, 1), "13345")
    s = siren(50_000_001)
    headers = bearer(db, "billing")
    with serve(create_app(db)) as base, httpx.Client(base_url=f"{base}/api/v1/billing", timeout=60,
                                                     headers=headers) as http:
        bad = http.post("/subscribers", json={"code": "ABO 1", "name": "", "siren": "123456789", "postcode": "942",
                                              "address_line1": "1 rue Marat", "city": "Ivry-sur-Seine"})
        assert bad.status_code == 422
        fields = {e["field"] for e in bad.json()["errors"]}
        assert fields == {"code", "name", "siren", "postcode"}
        assert "SIREN « 123456789 » invalide" in bad.text
        created = http.post("/subscribers", json={"code": "OPH-IVRY", "name": "OPH d'Ivry", "siren": s,
                                                  "siret": siret(s), "address_line1": "1 rue Marat",
                                                  "postcode": "94200", "city": "Ivry-sur-Seine"})
        assert created.status_code == 201, created.text
        assert http.get(f"/subscribers/{created.json()['id']}").json()["vat_number"].endswith(s)
        contract = http.post("/contracts", json={"number": "POL-0001", "subscriber": "OPH-IVRY",
                                                 "delivery_point": "PDL-0001", "category": "logement_social",
                                                 "start_date": "2025-01-01", "power_kw": "250"})
        assert contract.status_code == 201, contract.text
        twice = http.post("/contracts", json={"number": "POL-0002", "subscriber": "OPH-IVRY",
                                              "delivery_point": "PDL-0001", "category": "logement_social",
                                              "start_date": "2026-01-01", "power_kw": "250"})
        assert twice.status_code == 422 and "déjà le contrat POL-0001" in twice.text
        indices = http.post("/import/indices", content="series,month,value,published_on\nGAZ,2026-09,112,2026-10-12\n",
                            headers={"content-type": "text/csv"})
        assert indices.status_code == 422 and indices.json()["errors"][0]["line"] == 2

        run = http.post("/runs", json={"month": "2026-10", "simulate_only": True})
        assert run.status_code == 200, run.text
        body = run.json()
        assert (body["status"], body["invoices"], body["exceptions"]) == ("simulated", 1, [])
        assert http.get("/invoices", params={"status": "draft"}).json()["total"] == 1
        issued = http.post(f"/runs/{body['run_id']}/issue",
                           json={"invoices": body["invoices"], "total_ttc": body["total_ttc"]}).json()
        assert issued == {"run_id": body["run_id"], "issued": 1, "first_number": "FAC-2026-000001",
                          "last_number": "FAC-2026-000001"}
        invoice = http.get("/invoices/FAC-2026-000001").json()
        assert invoice["total_ttc"] == body["total_ttc"]
        assert [line["kind"] for line in invoice["lines"]] == ["R1", "R21", "R22", "R23", "R24"]
        assert invoice["lines"][0]["quantity"] == "12.345"
        assert http.get("/invoices/FAC-2026-999999").status_code == 404
        pdf = http.get("/invoices/FAC-2026-000001/pdf")  # generated at issue
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF-") and len(pdf.headers["x-content-sha256"]) == 64
        assert http.get("/invoices/FAC-2026-000001/xml").content.startswith(b"<?xml")
        journal = http.get(f"/runs/{body['run_id']}/accounting/journal")
        assert journal.status_code == 200 and journal.text.startswith("JournalCode;")
        credit = http.post("/invoices/FAC-2026-000001/credit", json={"reason": "erreur de relevé"})
        assert credit.status_code == 200 and credit.json()["full"] is True
        assert credit.json()["total_ttc"] == invoice["total_ttc"]
        again = http.post("/invoices/FAC-2026-000001/credit", json={"reason": "encore"})
        assert again.status_code == 409 and "plus rien à créditer" in again.text
        on_note = http.post("/invoices/AVO-2026-000001/credit", json={"reason": "x"})
        assert on_note.status_code == 409
        assert http.get("/runs").json()[0]["status"] == "issued"


def test_billing_records_api(db: Database) -> None:
    """Readings (409 with the warnings until confirmed), meter change, change of occupant and final
    invoice, a power change inside an invoiced period, the policy, closing a tariff, discarding a run."""
    with db.pool.connection() as conn:
        setup_billing(conn, points=2)
        subscriber(conn, "ABO-1", 1)
        subscriber(conn, "ABO-2", 2)
        contract(conn, "POL-0001", "ABO-1", "PDL-0001", date(2025, 1, 1))
        remote(conn, "MTR-0001", date(2026, 10, 1), "1000")
        remote(conn, "MTR-0001", date(2026, 10, 16), "6000")
        remote(conn, "MTR-0001", date(2026, 11, 1), "13345")
    headers = bearer(db, "billing")
    with serve(create_app(db)) as base, httpx.Client(base_url=f"{base}/api/v1/billing", timeout=60,
                                                     headers=headers) as http:
        reading = {"meter": "MTR-0001", "day": "2026-11-01", "index_kwh": "900", "kind": "manual"}
        warned = http.post("/readings", json=reading)
        assert warned.status_code == 409 and "inférieur au précédent" in warned.json()["detail"]["warnings"][0]
        saved = http.post("/readings", json={**reading, "index_kwh": "13340", "kind": "correction",
                                             "reason": "index relu sur place"})
        assert saved.status_code == 201 and saved.json()["warnings"] == []
        assert http.post("/readings", json={**reading, "kind": "correction"}).status_code == 422  # no reason

        moved = http.post("/delivery-points/PDL-0001/occupant", json={
            "last_day": "2026-10-15", "number": "POL-0002", "subscriber": "ABO-2", "category": "copropriete",
            "power_kw": "90"})
        assert moved.status_code == 201, moved.text
        final = http.post("/contracts/POL-0001/final-invoice")
        assert final.status_code == 200, final.text
        assert final.json()["invoice"] == "FAC-2026-000001" and final.json()["status"] == "simulated"
        power = http.post("/contracts/POL-0001/power", json={"valid_from": "2026-10-10", "power_kw": "120",
                                                            "reason": "audit"})
        assert power.status_code == 200 and "FAC-2026-000001" in power.json()["warnings"][0]
        late = http.post("/contracts/POL-0001/end", json={"last_day": "2026-10-05"})
        assert late.status_code == 422 and "FAC-2026-000001" in late.text

        changed = http.post("/delivery-points/PDL-0001/meter-change", json={
            "at": "2026-11-10T10:00:00+01:00", "old_final_kwh": "20000", "new_meter": "MTR-NEUF",
            "new_initial_kwh": "3"})
        assert changed.status_code == 201, changed.text
        assert http.put("/policy/centre", json={"r2_proration": "days_in_year"}).status_code == 204
        assert http.put("/policy/inconnu", json={}).status_code == 422
        closed = http.post("/tariffs/copropriete/2025-01-01/close", json={"valid_to": "2026-10-01"})
        assert closed.status_code == 422 and "FAC-2026-000001" in closed.text

        run = http.post("/runs", json={"month": "2026-10", "simulate_only": True}).json()
        assert run["status"] == "simulated" and run["invoices"] == 1  # the newcomer's 16-31 October
        assert http.delete(f"/runs/{run['run_id']}").status_code == 204
        assert http.delete(f"/runs/{final.json()['run_id']}").status_code == 409  # issued: never discarded
        future = http.post("/runs", json={"month": "2099-01", "simulate_only": True})
        assert future.status_code == 409 and "est à venir" in future.text
