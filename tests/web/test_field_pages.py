"""Field operations over HTTP: an operator turns an alarm into an order and closes it, a subscriber's
request joins it, an outage declared on a section shows on the portal of the subscriber it cuts (and
not of the other), the hall notice downloads; the JSON API; every page visited speaks French."""

from __future__ import annotations

import re
from contextlib import closing
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from regie_chaleur.db.database import Database
from regie_chaleur.operations.alarms import Observation, apply_observations
from regie_chaleur.registry.store import import_inventory_text
from tests.support.auth import bearer, signed_in
from tests.support.html import page_text
from tests.web.test_french_pages import ENGLISH, SNAKE, _visible

pytestmark = pytest.mark.timeout(300)
PARIS = ZoneInfo("Europe/Paris")
SECTIONS = """
network_sections:
  - {code: NORD, name: Branche nord, network: centre}
  - {code: SUD, name: Branche sud, network: centre}
substations:
  - {code: SST-0001, name: Sous-station 1, network: centre, network_section: NORD}
  - {code: SST-0002, name: Sous-station 2, network: centre, network_section: SUD}
"""


def french(answer: httpx.Response) -> list[str]:
    text = _visible(answer.text)
    return SNAKE.findall(text) + ENGLISH.findall(text)


@pytest.fixture
def field_site(site: tuple[Database, str]) -> tuple[Database, str, int]:
    db, base = site
    with db.pool.connection() as conn:
        import_inventory_text(conn, SECTIONS, "sections.yaml")
        sub = conn.execute("SELECT id FROM substations WHERE code = 'SST-0001'").fetchone()
        alarm = apply_observations(conn, [Observation((sub[0], None, "comm_lost"), 10.0, "aucune réponse")],  # type: ignore[index]
                                   datetime.now(UTC), {}).raised[0]
    return db, base, alarm


def test_an_alarm_to_an_order_to_its_closure_with_a_request_joining(field_site: tuple[Database, str, int]) -> None:
    _db, base, alarm = field_site
    visited: list[httpx.Response] = []
    with closing(signed_in(base, "operatrice")) as op, closing(signed_in(base, "abonne-un")) as abo:
        visited.append(op.get(f"/exploitation/alarmes/{alarm}"))
        assert "Ouvrir une intervention" in visited[-1].text
        made = op.post(f"/exploitation/interventions/depuis-alarme/{alarm}")
        assert made.status_code == 303
        order_url = made.headers["location"]
        asked = abo.post("/espace/demandes", data={"point": "PDL-0001", "motif": "no_heating",
                                                    "message": "Plus de chauffage depuis 6 h"})
        assert asked.status_code == 303
        visited.append(abo.get("/espace/demandes"))
        assert "prise en charge" in page_text(visited[-1]) and order_url.rsplit("/", 1)[1] in visited[-1].text
        refused = abo.post("/espace/demandes", data={"point": "PDL-0002", "motif": "noise"})
        assert refused.status_code == 422 and "hors de vos contrats" in page_text(refused)
        tomorrow = (datetime.now(PARIS) + timedelta(days=1)).date().isoformat()
        for action, data in (("planifier", {"date_prevue": tomorrow}), ("demarrer", {}), ("temps", {"minutes": "50"}),
                             ("piece", {"designation": "Carte de communication", "quantite": "1"}),
                             ("terminer", {"commentaire": "carte remplacée"})):
            answer = op.post(f"{order_url}/{action}", data=data)
            assert answer.status_code == 303, (action, answer.text)
        wrong = op.post(f"{order_url}/temps", data={"minutes": "10"})
        assert wrong.status_code == 409 and "close" in page_text(wrong)
        visited.append(op.get(order_url))
        for src in re.findall(r'data-src="([^"]+)"', visited[-1].text):  # the charts' data answer
            assert op.get(src.replace("&amp;", "&")).status_code == 200, src
        text = page_text(visited[-1])
        assert "Statut terminée" in text and "Preuve de réparation : à vérifier" in text and "0 h 50" in text
        assert "Carte de communication" in text and "Plus de chauffage depuis 6 h" in text
        visited.append(abo.get("/espace/demandes"))
        assert "est terminée" in page_text(visited[-1])
        visited.append(abo.get(f"/espace/interventions/{order_url.rsplit('/', 1)[1]}"))
        assert visited[-1].status_code == 200 and "carte remplacée" in page_text(visited[-1])
        visited += [op.get("/exploitation/interventions"), op.get("/exploitation/demandes?statut="),
                    op.get("/exploitation/interventions/nouvelle")]
    assert {str(a.url.path): french(a) for a in visited if french(a)} == {}


def test_an_outage_reaches_the_portal_of_those_it_cuts(field_site: tuple[Database, str, int]) -> None:
    _db, base, _alarm = field_site
    start = (datetime.now(PARIS) + timedelta(days=2)).replace(hour=8, minute=0, second=0, microsecond=0)
    visited: list[httpx.Response] = []
    with closing(signed_in(base, "operatrice")) as op, closing(signed_in(base, "abonne-un")) as one, \
            closing(signed_in(base, "abonne-deux")) as two:
        late = op.post("/exploitation/coupures/nouvelle", data={
            "type": "planned", "titre": "Travaux", "lieu": "network_section", "code": "NORD",
            "debut": "2020-01-01T08:00", "fin": "2020-01-01T12:00", "preavis_jours": "7"})
        assert late.status_code == 422 and "commence dans le futur" in page_text(late)
        made = op.post("/exploitation/coupures/nouvelle", data={
            "type": "planned", "titre": "Remplacement d'une vanne", "lieu": "network_section", "code": "NORD",
            "debut": start.strftime("%Y-%m-%dT%H:%M"), "fin": (start + timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M"),
            "preavis_jours": "7", "motif": "Vanne de sectionnement à remplacer."})
        assert made.status_code == 303
        visited.append(op.get(made.headers["location"]))
        text = page_text(visited[-1])
        assert "SST-0001" in text and "SST-0002" not in text and "avis à poster" in text
        outage = made.headers["location"].split("/")[-1].split("?")[0]
        visited.append(one.get("/espace"))
        assert "Coupure de chauffage programmée (Remplacement d'une vanne)" in page_text(visited[-1])
        assert "Coupure de chauffage" not in page_text(two.get("/espace"))
        visited.append(one.get("/espace/interventions"))
        pdf = one.get(f"/espace/coupures/{outage}/avis/SST-0001.pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert two.get(f"/espace/coupures/{outage}/avis/SST-0001.pdf").status_code == 404
        assert op.get(f"/exploitation/coupures/{outage}/avis/SST-0001.pdf").content.startswith(b"%PDF")
        assert op.get(f"/exploitation/coupures/{outage}/abonnes/ABO-1.pdf").content.startswith(b"%PDF")
        assert op.get(f"/exploitation/coupures/{outage}/abonnes/ABO-2.pdf").status_code == 404  # not cut
        visited += [op.get("/exploitation/coupures"), op.get("/exploitation/coupures/nouvelle"),
                    op.get("/exploitation/astreinte")]
        assert op.post(f"/exploitation/coupures/{outage}/annuler").status_code == 303
        assert "Coupure de chauffage" not in page_text(one.get("/espace"))
    assert {str(a.url.path): french(a) for a in visited if french(a)} == {}


def test_the_field_api(field_site: tuple[Database, str, int]) -> None:
    db, base, alarm = field_site
    headers = bearer(db, "operator")
    with httpx.Client(base_url=base, headers=headers, timeout=60) as api:
        person = api.post("/api/v1/on-call/people", json={"name": "Alice Martin", "email": "alice@regie.fr"})
        assert person.status_code == 201
        week = datetime.now(PARIS).date().isoformat()
        duty = api.put(f"/api/v1/on-call/weeks/{week}", json={"ranks": {"1": person.json()["id"]}})
        assert duty.status_code == 200 and duty.json()["ranks"]["1"]["name"] == "Alice Martin"
        assert api.get("/api/v1/on-call").json()["on_duty"]["1"]["name"] == "Alice Martin"
        for ranks, message in (({"2": 987654}, "personne d'astreinte inconnue"), ({"9": None}, "rang")):
            refused = api.put(f"/api/v1/on-call/weeks/{week}", json={"ranks": ranks})
            assert refused.status_code == 422 and message in refused.json()["detail"]
        order = api.post(f"/api/v1/work-orders/from-alarm/{alarm}").json()
        assert order["status"] == "to_plan" and order["alarms"][0]["id"] == alarm
        moved = api.post(f"/api/v1/work-orders/{order['id']}/status", json={"status": "done"})
        assert moved.status_code == 409 and "ne peut pas passer" in moved.json()["detail"]
        worked = api.post(f"/api/v1/work-orders/{order['id']}/work", json={"minutes": 30, "note": "sur place"})
        assert worked.json()["time_spent_min"] == 30
        assert [o["id"] for o in api.get("/api/v1/work-orders").json()] == [order["id"]]
        created = api.post("/api/v1/work-orders", json={"title": "Purge", "place_kind": "network_section",
                                                         "place_code": "INCONNU"})
        assert created.status_code == 422 and "lieu inconnu" in created.json()["detail"]
        cut = api.post("/api/v1/outages", json={
            "kind": "unplanned", "title": "Fuite", "place_kind": "network_section", "place_code": "SUD",
            "estimated_return": (datetime.now(UTC) + timedelta(hours=4)).isoformat()})
        assert cut.status_code == 201, cut.text
        body = cut.json()
        assert [s["code"] for s in body["substations"]] == ["SST-0002"]
        assert [n["code"] for n in body["notices"]] == ["ABO-2"]  # told at once
        bad = api.post("/api/v1/outages", json={"kind": "planned", "title": "X", "place_code": "SUD",
                                                 "start": "2020-01-01T08:00:00Z", "end": "2020-01-01T10:00:00Z"})
        assert bad.status_code == 422 and re.search("futur", bad.json()["detail"])
        assert api.post(f"/api/v1/outages/{body['id']}/end").status_code == 204
        assert api.get("/api/v1/outages?current=true").json() == []
