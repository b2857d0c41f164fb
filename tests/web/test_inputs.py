"""No input gives a 500: NUL bytes anywhere, unreadable or out-of-calendar dates, mixed naive and aware
instants, ids and amounts beyond what the database holds, oversized bodies; every answer, a 500
included, carries the security headers."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from regie_chaleur.api.app import create_app
from regie_chaleur.db.database import Database
from tests.support.auth import bearer
from tests.support.http_server import serve

HEADERS = ("content-security-policy", "x-content-type-options", "x-frame-options", "referrer-policy")


def _secured(answer: httpx.Response) -> bool:
    return all(h in answer.headers for h in HEADERS)


def test_nul_bytes_are_refused_everywhere(site: tuple[Database, str]) -> None:
    db, base = site
    billing = bearer(db, "billing")
    operator = bearer(db, "operator")
    with httpx.Client(base_url=base, timeout=30) as http:
        login = http.post("/connexion", data={"login": "admin\x00", "password": "x", "login_token": "t"})
        assert login.status_code == 400 and "caractère nul" in login.text and _secured(login)
        for path, headers in (("/facturation/factures?recherche=a%00b", billing),
                              ("/facturation/contrats/POL%00-1", billing),
                              ("/api/v1/alarms?rule=%00", operator),
                              ("/api/v1/substations?search=x%00", operator)):
            answer = http.get(path, headers=headers)
            assert answer.status_code == 400, (path, answer.status_code, answer.text[:200])
            assert _secured(answer)
        api = http.post("/api/v1/billing/subscribers", headers=billing,
                        content=b'{"code": "A\\u0000", "name": "x"}', )
        assert api.status_code == 400 and api.json()["detail"].startswith("caractère nul")
        comment = http.post("/api/v1/alarms/1/acknowledge", headers=operator, json={"comment": "vu\x00"})
        assert comment.status_code == 400


@pytest.mark.parametrize("path", [
    "/api/v1/substations/SST-0001/series?start=garbage&end=2026-10-02T00:00:00Z",
    "/api/v1/substations/SST-0001/series?start=0001-01-01T00:00:00&end=9999-12-31T00:00:00Z",
    "/api/v1/network/balance?first=0001-01-01&last=9999-12-31",
    "/api/v1/network/balance?first=2026-10-31&last=2026-10-01",
    "/api/v1/substations/SST-0001/kpis?first=2000-01-01&last=2099-12-31",
    "/api/v1/audit/subscribed-power?first=2026-01-01&last=2026-02-01&design_outdoor_c=1e308",
    "/exploitation/donnees/charge?start=garbage",
    "/exploitation/donnees/charge?start=0001-01-01T00:00:00&end=9999-12-31T00:00:00",
    "/exploitation/donnees/sous-station/SST-0001?start=9999-12-31T23:00:00",
    "/exploitation/sous-stations/SST-0001/mesures.csv?du=0001-01-01&au=9999-12-31",
    "/exploitation/alarmes?du=0001-01-01&au=9999-12-31",
])
def test_dates_out_of_reach_are_422(site: tuple[Database, str], path: str) -> None:
    db, base = site
    answer = httpx.get(base + path, headers=bearer(db, "operator"), timeout=30)
    assert answer.status_code in (200, 422), (answer.status_code, answer.text[:300])
    assert answer.status_code == 422 or "alarmes" in path  # the alarm filter says it on its page
    assert _secured(answer)


def test_mixed_naive_and_aware_instants(site: tuple[Database, str]) -> None:
    db, base = site
    answer = httpx.get(base + "/api/v1/substations/SST-0001/series",
                       params={"start": "2026-10-01T00:00:00", "end": "2026-10-02T00:00:00+02:00"},
                       headers=bearer(db, "operator"), timeout=30)
    assert answer.status_code == 200, answer.text  # a naive instant is UTC


def test_numbers_beyond_the_database(site: tuple[Database, str]) -> None:
    db, base = site
    billing = bearer(db, "billing")
    with httpx.Client(base_url=f"{base}/api/v1/billing", headers=billing, timeout=30) as http:
        assert http.get("/runs/99999999999999999999").status_code in (404, 422)
        power = http.post("/contracts/POL-0001/power", json={"valid_from": "2026-12-01",
                                                            "power_kw": "99999999999999", "reason": "x"})
        assert power.status_code == 422
    page = httpx.get(f"{base}/facturation/tournees/99999999999999999999", headers=billing, timeout=30)
    assert page.status_code in (404, 422), page.text[:300]


def test_oversized_bodies_are_413(db: Database) -> None:
    with serve(create_app(db, max_body_bytes=4096)) as base:
        answer = httpx.post(base + "/connexion", content=b"login=" + b"a" * 10_000,
                            headers={"content-type": "application/x-www-form-urlencoded"}, timeout=30)
        assert answer.status_code == 413 and _secured(answer)


def test_a_500_carries_the_security_headers(db: Database) -> None:
    app: FastAPI = create_app(db)

    @app.post("/api/v1/essai-panne")
    def boom() -> None:
        raise RuntimeError("panne simulée")

    with serve(app) as base:
        answer = httpx.post(base + "/api/v1/essai-panne", headers=bearer(db, "admin"), timeout=30)
        refused = httpx.post(base + "/connexion", data={"login": "a\x00"}, timeout=30)
    assert answer.status_code == 500 and answer.json() == {"detail": "erreur interne"} and _secured(answer)
    assert refused.status_code == 400
    with db.pool.connection() as conn:  # failed and refused writes are in the audit log too
        logged = conn.execute("SELECT path, status FROM audit_log WHERE action = 'write' ORDER BY id").fetchall()
    assert ("/api/v1/essai-panne", 500) in logged and ("/connexion", 400) in logged


def test_private_answers_are_never_cached(site: tuple[Database, str]) -> None:
    db, base = site
    subscriber = bearer(db, "subscriber", "ABO-1")
    with httpx.Client(base_url=base, timeout=30) as http:
        invoices = http.get("/api/v1/me/invoices", headers=subscriber)
        assert invoices.status_code == 200 and invoices.headers["cache-control"] == "no-store"
        number = invoices.json()["items"][0]["number"]
        pdf = http.get(f"/api/v1/me/invoices/{number}", headers=subscriber)
        assert pdf.headers["cache-control"] == "no-store"
        assert http.get("/static/app.css").headers.get("cache-control") != "no-store"
