"""What an operator expects on the console: CSV exports in French Excel conventions (substations, alarms,
a substation's series over a chosen range), the alarm list filtered by dates, severity, state, rule and
substation, a plant unavailability declared from the console that re-plans at once, and the plan chart
in MW with the must-take plant at the bottom and the forecast band behind."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from regie_chaleur.api.app import create_app
from regie_chaleur.db.database import Database
from regie_chaleur.operations.alarms import evaluate_alarms
from regie_chaleur.operations.rollups import refresh_operations
from tests.operations.support import build_network
from tests.support.auth import account, signed_in
from tests.support.http_server import serve
from tests.test_planning_service import store_forecast

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


@pytest.fixture
def console(db: Database) -> Database:
    """Three substations with two days of history up to now, a forecast, a plan, and alarms."""
    build_network(db, 3, NOW - timedelta(days=2), NOW)
    with db.pool.connection() as conn:
        refresh_operations(conn, NOW - timedelta(days=2), NOW)
        conn.execute("DELETE FROM substation_samples WHERE device_id IN (SELECT id FROM devices WHERE code LIKE "
                     "'SIM-00001-%%') AND time > %s", (NOW - timedelta(minutes=45),))
        conn.execute("UPDATE substation_samples SET t_return_primary = 61 + extract(minute FROM time) / 100 "
                     "WHERE device_id = (SELECT id FROM devices WHERE code = 'SIM-00002-MTR') AND time > %s",
                     (NOW - timedelta(hours=1),))
        conn.execute("INSERT INTO alarm_thresholds (substation_id, rule, params) VALUES "
                     "(NULL, 'comm_lost', '{\"interval_s\": 600}')")
        evaluate_alarms(conn, NOW)
    store_forecast(db, NOW, 45)
    from regie_chaleur.services.planning import plan_latest, read_system_doc

    with db.pool.connection() as conn:
        plan_latest(conn, read_system_doc(None))
    return db


def test_alarm_list_filters_and_its_csv(console: Database) -> None:
    login = account(console, "operator")
    today = NOW.astimezone(PARIS).date()
    with serve(create_app(console)) as base:
        client = signed_in(base, login)
        everything = client.get("/exploitation/alarmes", params={"etat": ""}).text
        critical = client.get("/exploitation/alarmes", params={"etat": "", "gravite": "critical"}).text
        by_rule = client.get("/exploitation/alarmes", params={"etat": "open", "regle": "return_too_high"}).text
        by_sub = client.get("/exploitation/alarmes", params={"etat": "", "sous_station": "SIM-00002"}).text
        last_year = client.get("/exploitation/alarmes", params={"etat": "", "du": "2020-01-01", "au": "2020-12-31"})
        today_only = client.get("/exploitation/alarmes", params={"etat": "", "du": today.isoformat(),
                                                                 "au": today.isoformat()}).text
        garbage = client.get("/exploitation/alarmes", params={"du": "hier"})
        csv = client.get("/exploitation/alarmes.csv", params={"etat": "", "gravite": "critical"})
        client.close()
    def rows(page: str) -> str:
        return page.split("<tbody>")[1].split("</tbody>")[0]

    assert "SIM-00001" in rows(everything) and "SIM-00002" in rows(everything)
    assert "communication perdue" in rows(critical) and "retour trop chaud" not in rows(critical)
    assert "retour trop chaud" in rows(by_rule) and "communication perdue" not in rows(by_rule)
    assert "SIM-00001" not in rows(by_sub)
    assert "Aucune alarme." in last_year.text and "0 alarme(s)" in last_year.text
    assert "SIM-00001" in rows(today_only)
    assert garbage.status_code == 422 and "date « du » illisible" in garbage.text
    assert csv.headers["content-type"].startswith("text/csv")
    text = csv.content.decode("utf-8")
    assert text.startswith("\ufeffn°;apparue le;sous-station;appareil;règle;gravité;état;message")
    lines = text.lstrip("\ufeff").split("\r\n")
    assert all(";communication perdue;critique;apparue;" in line for line in lines[1:] if line)
    assert re.search(r";\d\d/\d\d/\d{4} \d\d:\d\d;", lines[1])  # Paris time, French format
    assert ";intervalles;" in lines[1]  # the value's unit


def test_a_substations_series_as_csv_over_a_chosen_range(console: Database) -> None:
    login = account(console, "operator")
    day = (NOW - timedelta(days=1)).astimezone(PARIS).date()
    with serve(create_app(console)) as base:
        client = signed_in(base, login)
        answer = client.get("/exploitation/sous-stations/SIM-00003/mesures.csv",
                            params={"du": day.isoformat(), "au": day.isoformat()})
        backwards = client.get("/exploitation/sous-stations/SIM-00003/mesures.csv",
                               params={"du": day.isoformat(), "au": (day - timedelta(days=3)).isoformat()})
        unknown = client.get("/exploitation/sous-stations/NOPE/mesures.csv")
        client.close()
    lines = answer.content.decode("utf-8-sig").split("\r\n")
    assert lines[0].startswith("instant;départ primaire (°C);retour primaire (°C)")
    rows = [line for line in lines[1:] if line]
    assert len(rows) == 24 * 6  # a day of 10-minute samples, Paris midnight to midnight
    assert rows[0].startswith(f"{day:%d/%m/%Y} 00:00;")
    assert re.search(r";\d+,\d{3};", rows[0])  # decimal comma
    assert backwards.status_code == 422 and unknown.status_code == 404


def test_an_unavailability_declared_on_the_console_re_plans_at_once(console: Database) -> None:
    login = account(console, "operator")
    with console.pool.connection() as conn:
        before = conn.execute("SELECT id FROM production_plans ORDER BY id DESC LIMIT 1").fetchone()
    start = (NOW + timedelta(hours=5)).astimezone(PARIS)
    end = start + timedelta(hours=12)
    with serve(create_app(console)) as base:
        client = signed_in(base, login)
        answer = client.post("/exploitation/indisponibilites", data={
            "installation": "UVE-IVRY", "debut": start.strftime("%Y-%m-%dT%H:%M"),
            "fin": end.strftime("%Y-%m-%dT%H:%M"), "motif": "arrêt technique du four"})
        page = client.get("/exploitation/prevision").text
        wrong = client.post("/exploitation/indisponibilites", data={
            "installation": "UVE-IVRY", "debut": end.strftime("%Y-%m-%dT%H:%M"),
            "fin": start.strftime("%Y-%m-%dT%H:%M"), "motif": "x"})
        unknown = client.post("/exploitation/indisponibilites", data={
            "installation": "CENTRALE-X", "debut": start.strftime("%Y-%m-%dT%H:%M"),
            "fin": end.strftime("%Y-%m-%dT%H:%M"), "motif": "x"})
        with console.pool.connection() as conn:
            plan = conn.execute("SELECT id, start_at FROM production_plans ORDER BY id DESC LIMIT 1").fetchone()
        chart = client.get(f"/exploitation/donnees/plan/{plan[0]}").json()
        client.close()
    assert answer.status_code == 303 and "unavailability-saved" in answer.headers["location"]
    assert before is not None and plan[0] > before[0]  # planned again
    assert "arrêt technique du four" in page and "UVE-IVRY" in page
    assert wrong.status_code == 422
    assert "la fin de l'indisponibilité doit être après son début" in html.unescape(wrong.text)
    assert unknown.status_code == 422 and "installation inconnue" in unknown.text
    with console.pool.connection() as conn:
        hours = conn.execute("SELECT target, production_mw FROM plan_production WHERE plan_id = %s AND "
                             "plant = 'UVE-IVRY' ORDER BY target", (plan[0],)).fetchall()
    down = [mw for target, mw in hours if start <= target < end]
    assert down and all(mw == 0 for mw in down)  # no production from the plant while it is unavailable
    assert any(mw > 0 for target, mw in hours if target >= end)
    labels = [s["label"] for s in chart["series"]]
    assert labels[0] == "UVE-IVRY"  # the must-take recovered heat at the bottom of the stack
    assert {s["unit"] for s in chart["series"] if s["label"] != "Contenu du ballon"} == {"MW"}
    p90, p10 = chart["bands"][0]
    assert (chart["series"][p90]["label"], chart["series"][p10]["label"]) == ("Demande P90", "Demande P10")
