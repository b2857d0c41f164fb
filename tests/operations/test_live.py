"""The operator's live view tells the truth: a substation that stopped answering is "hors ligne", one that
answers without a valid value shows "données invalides", "dernière mesure" is the last good reading and
old values are shown with their age, never as current; the overview, the list, the API agree."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from regie_chaleur.api.app import create_app
from regie_chaleur.db.database import Database
from regie_chaleur.operations.live import network_summary, substation_statuses
from regie_chaleur.registry.store import import_inventory_text
from regie_chaleur.services.telemetry import fleet_inventory
from telemetry.profiles import load_profiles
from telemetry.quality import Quality
from telemetry.samples import Reading
from telemetry.simulator.fleet import fleet_specs
from telemetry.writer import write_readings
from tests.support.auth import account, bearer, signed_in
from tests.support.http_server import serve

G, BAD, LOST = Quality.GOOD, Quality.INVALID, Quality.COMM_ERROR


def meter_row(at: datetime, q: Quality, power: float = 500.0) -> dict[str, tuple[float | None, Quality]]:
    """One poll of a meter's fast block: good values, or the same points flagged ``q``."""
    values = {"power": power, "flow": 10.0, "t_supply_primary": 90.0, "t_return_primary": 47.0}
    return {k: ((v if q is not Quality.COMM_ERROR else None), q) for k, v in values.items()}


@pytest.fixture
def live(db: Database) -> tuple[Database, datetime]:
    """Four substations, each in a state an operator must read right, at ``now``."""
    now = datetime.now(UTC).replace(microsecond=0)
    specs = fleet_specs(4, 5020, "127.9.0.0")
    with db.pool.connection() as conn:
        import_inventory_text(conn, fleet_inventory(specs), "fleet.yaml", profiles=load_profiles())
        ids = dict(conn.execute("SELECT code, id FROM devices").fetchall())
        readings: list[Reading] = []
        for minutes in range(40, 0, -1):  # one poll a minute for 40 minutes
            at = now - timedelta(minutes=minutes, seconds=-30)
            # SIM-00001: healthy all along
            readings.append(Reading(at, ids["SIM-00001-MTR"], meter_row(at, G, 400.0)))
            # SIM-00002: answered until 20 minutes ago, then no answer at all (polls fail)
            readings.append(Reading(at, ids["SIM-00002-MTR"], meter_row(at, G if minutes > 20 else LOST, 700.0)))
            # SIM-00003: answers all along, but every value invalid for the last 10 minutes
            readings.append(Reading(at, ids["SIM-00003-MTR"], meter_row(at, G if minutes > 10 else BAD, 900.0)))
            # SIM-00004: never heard (its polls all fail)
            readings.append(Reading(at, ids["SIM-00004-MTR"], meter_row(at, LOST)))
        write_readings(conn, readings)
    return db, now


def test_statuses_distinguish_no_answer_from_invalid_data(live: tuple[Database, datetime]) -> None:
    db, now = live
    with db.pool.connection() as conn:
        statuses, total = substation_statuses(conn, now, limit=100)
    by_code = {s.code: s for s in statuses}
    assert total == 4
    assert {c: s.status for c, s in by_code.items()} == {
        "SIM-00001": "online", "SIM-00002": "offline", "SIM-00003": "invalid", "SIM-00004": "offline"}
    silent = by_code["SIM-00002"]
    assert silent.last_seen is not None and 19 * 60 < (now - silent.last_seen).total_seconds() < 21 * 60
    assert silent.stale and silent.power_kw == pytest.approx(700.0)  # kept, but flagged as old
    assert by_code["SIM-00003"].last_answer is not None and (now - by_code["SIM-00003"].last_answer).seconds < 60
    assert by_code["SIM-00003"].stale
    assert by_code["SIM-00004"].last_seen is None and by_code["SIM-00004"].last_answer is None
    assert not by_code["SIM-00001"].stale
    summary = network_summary(statuses)
    assert (summary["online"], summary["offline"], summary["invalid"]) == (1, 2, 1)
    assert summary["load_kw"] == pytest.approx(400.0)  # only current values count


def test_the_overview_the_list_and_the_api_count_silent_substations(live: tuple[Database, datetime]) -> None:
    db, _ = live
    login = account(db, "operator")
    headers = bearer(db, "operator")
    with serve(create_app(db)) as base:
        api = httpx.get(f"{base}/api/v1/network/overview", headers=headers, timeout=30).json()
        listed = httpx.get(f"{base}/api/v1/substations", headers=headers, timeout=30).json()["items"]
        client = signed_in(base, login)
        overview = client.get("/exploitation").text
        offline = client.get("/exploitation/sous-stations", params={"statut": "offline"}).text
        page = client.get("/exploitation/sous-stations/SIM-00002").text
        csv = client.get("/exploitation/sous-stations.csv").content.decode("utf-8-sig")
        client.close()
    assert (api["online"], api["offline"], api["invalid"]) == (1, 2, 1)
    assert api["load_kw"] == pytest.approx(400.0)
    assert {s["code"]: s["status"] for s in listed}["SIM-00003"] == "invalid"
    assert re.search(r"1 <small>/ 4 · <a[^>]*>2 hors ligne</a> · <a[^>]*>1 données invalides</a>", overview)
    assert "SIM-00002" in offline and "SIM-00004" in offline and "SIM-00001" not in offline
    assert 'class="stale"' in page  # the age of the values, never shown as current
    assert re.search(r"\(il y a 2\d\u202fmin\)", page)
    lines = csv.splitlines()
    assert lines[0].startswith("sous-station;nom;réseau;état;dernière mesure")
    row = next(line for line in lines if line.startswith("SIM-00002;"))
    assert ";hors ligne (pas de réponse);" in row and ";non;" in row  # values not current
    assert ";700;" in row  # French Excel: ';' between fields
