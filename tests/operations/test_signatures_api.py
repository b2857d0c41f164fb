"""Signatures and the subscribed-power audit on generated history; the operations API over HTTP."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from regie_chaleur.api.app import create_app
from regie_chaleur.db.database import Database
from regie_chaleur.operations.alarms import evaluate_alarms, evaluate_signature_anomalies
from regie_chaleur.operations.rollups import refresh_operations
from regie_chaleur.operations.signatures import signature_drift, subscribed_power_audit, substation_signature
from tests.operations.support import build_network
from tests.support.auth import bearer
from tests.support.http_server import serve

START = datetime(2025, 10, 1, tzinfo=UTC)
END = datetime(2026, 2, 1, tzinfo=UTC)


@pytest.fixture
def history(db: Database) -> Database:
    build_network(db, 3, START, END, step=timedelta(hours=1))
    with db.pool.connection() as conn:
        refresh_operations(conn, START, END)
        conn.execute("UPDATE delivery_points SET subscribed_power_kw = 5000 WHERE code = 'PDL-SIM-00001'")
        conn.execute("UPDATE delivery_points SET subscribed_power_kw = 1 WHERE code = 'PDL-SIM-00002'")
    return db


def test_signature_fits_and_flags_an_anomalous_day(history: Database) -> None:
    with history.pool.connection() as conn:
        report = substation_signature(conn, "SIM-00001", date(2025, 10, 1), date(2026, 1, 31))
        assert report.signature.slope_kwh_day_k > 0
        assert 10 < report.signature.limit_c < 20
        assert report.anomalous_days == []
        conn.execute("UPDATE substation_daily SET energy_kwh = energy_kwh * 3 WHERE day = '2026-01-20' AND "
                     "device_id = (SELECT id FROM devices WHERE code = 'SIM-00001-MTR')")
        result = evaluate_signature_anomalies(conn, date(2026, 1, 20), datetime(2026, 1, 21, 6, tzinfo=UTC))
        codes = conn.execute("SELECT s.code FROM alarms a JOIN substations s ON s.id = a.substation_id "
                             "WHERE a.rule = 'signature_anomaly'").fetchall()
    assert len(result.raised) == 1
    assert codes == [("SIM-00001",)]


def test_drift_is_reported_when_the_building_changes(history: Database) -> None:
    with history.pool.connection() as conn:
        conn.execute("UPDATE substation_daily SET energy_kwh = energy_kwh * 1.4 WHERE day >= '2025-12-16' AND "
                     "device_id = (SELECT id FROM devices WHERE code = 'SIM-00003-MTR')")
        _, _, drift = signature_drift(conn, "SIM-00003", (date(2025, 10, 1), date(2025, 12, 15)),
                                      (date(2025, 12, 16), date(2026, 1, 31)))
        _, _, steady = signature_drift(conn, "SIM-00001", (date(2025, 10, 1), date(2025, 12, 15)),
                                       (date(2025, 12, 16), date(2026, 1, 31)))
    assert drift.drifted
    assert not steady.drifted


def test_subscribed_power_audit(history: Database) -> None:
    with history.pool.connection() as conn:
        audit = subscribed_power_audit(conn, date(2025, 10, 1), date(2026, 1, 31))
    lines = {line.delivery_point: line for line in audit}
    assert lines["PDL-SIM-00001"].finding == "sur-souscrit"
    assert lines["PDL-SIM-00002"].finding == "sous-souscrit"
    assert lines["PDL-SIM-00001"].corrected_peak_kw > lines["PDL-SIM-00001"].measured_peak_kw * 0.8
    assert "max(0," in lines["PDL-SIM-00001"].fit


def test_operations_api(history: Database) -> None:
    with history.pool.connection() as conn:
        evaluate_alarms(conn, datetime.now(UTC))  # all substations silent now: comm_lost for each device
    headers = bearer(history, "operator")
    with serve(create_app(history)) as base, httpx.Client(base_url=base, timeout=30, headers=headers) as c:
        assert httpx.get(f"{base}/api/v1/substations").status_code == 401  # no credentials
        assert httpx.get(f"{base}/api/v1/substations", headers=bearer(history, "billing")).status_code == 403
        page = c.get("/api/v1/substations", params={"limit": 2}).json()
        assert page["total"] == 3
        assert [s["code"] for s in page["items"]] == ["SIM-00001", "SIM-00002"]
        assert page["items"][0]["status"] == "offline"
        overview = c.get("/api/v1/network/overview").json()
        assert overview["offline"] == 3
        assert overview["open_alarms"]["critical"] == 6
        series = c.get("/api/v1/substations/SIM-00001/series",
                       params={"start": "2025-11-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}).json()
        assert series["resolution"] == "hour"
        assert len(series["points"]) == 61 * 24
        yearly = c.get("/api/v1/substations/SIM-00001/series",
                       params={"start": "2025-10-01T00:00:00Z", "end": "2026-02-01T00:00:00Z"}).json()
        assert yearly["resolution"] == "day"
        assert yearly["points"][10]["energy_kwh"] > 0
        assert c.get("/api/v1/substations/NOPE/series",
                     params={"start": "2025-11-01T00:00:00Z", "end": "2025-11-02T00:00:00Z"}).status_code == 404
        alarms = c.get("/api/v1/alarms", params={"state": "open", "limit": 4}).json()
        assert alarms["total"] == 6
        assert len(alarms["items"]) == 4
        first = alarms["items"][0]["id"]
        ack = c.post(f"/api/v1/alarms/{first}/acknowledge", json={"comment": "vu"})
        assert ack.status_code == 204
        assert c.post(f"/api/v1/alarms/{first}/acknowledge", json={}).status_code == 409
        assert c.post(f"/api/v1/alarms/{first}/clear", json={}).status_code == 204
        assert c.post("/api/v1/alarms/999999/clear", json={}).status_code == 409
        with history.pool.connection() as conn:  # the signed-in account, not a name from the body
            who = conn.execute("SELECT acknowledged_by, cleared_by FROM alarms WHERE id = %s", (first,)).fetchone()
        assert who is not None and who[0] == who[1] and who[0].startswith("operator-")
        kpis = c.get("/api/v1/substations/SIM-00002/kpis", params={"first": "2026-01-01", "last": "2026-01-07"}).json()
        assert len(kpis) == 7
        assert kpis[0]["dju"] > 0
        point = c.get("/api/v1/delivery-points/PDL-SIM-00002/kpis",
                      params={"first": "2026-01-01", "last": "2026-01-07"}).json()
        assert [p["energy_kwh"] for p in point] == [k["energy_kwh"] for k in kpis]  # its only meter
        assert point[0]["dju"] == kpis[0]["dju"]
        assert c.get("/api/v1/delivery-points/NOPE/kpis",
                     params={"first": "2026-01-01", "last": "2026-01-07"}).status_code == 404
        monthly = c.get("/api/v1/substations/SIM-00002/monthly",
                        params={"first": "2025-10-01", "last": "2026-01-31"}).json()
        assert len(monthly) == 4
        assert all(m["normalised_kwh"] == pytest.approx(m["energy_kwh"]) for m in monthly)  # own reference
        audit = c.get("/api/v1/audit/subscribed-power", params={"first": "2025-10-01", "last": "2026-01-31"}).json()
        assert {a["finding"] for a in audit} == {"sur-souscrit", "sous-souscrit"}
        schema = c.get("/api/v1/openapi.json").json()
        assert "[kW] at the last good reading" in str(schema["components"]["schemas"]["SubstationOut"])
