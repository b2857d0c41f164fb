"""An alarm to an order to its closure; a subscriber's request joining the order of its substation's
alarm; preventive visits generated once a year; moves the life cycle refuses."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from regie_chaleur.db.database import Database
from regie_chaleur.field.errors import InputError, StateError, UnknownError
from regie_chaleur.field.orders import (
    add_note,
    add_part,
    add_time,
    list_orders,
    order_from_alarm,
    read_order,
    set_status,
)
from regie_chaleur.field.preventive import generate_visits, plan_every_substation
from regie_chaleur.field.requests import answer_request, file_request, list_requests, order_from_request
from tests.field.support import NOW, raise_alarm

pytestmark = pytest.mark.timeout(120)


def test_an_alarm_becomes_an_order_that_is_planned_worked_and_closed(net: Database) -> None:
    with net.pool.connection() as conn:
        alarm = raise_alarm(conn, "SST-0001")
        order = order_from_alarm(conn, alarm, "operatrice", NOW)
        assert order_from_alarm(conn, alarm, "operatrice", NOW) == order  # the alarm answers to one order
        found = read_order(conn, order)
        assert (found["status"], found["priority"], found["kind"], found["origin"]) == \
            ("to_plan", "urgent", "repair", "alarm")
        assert found["substation"] == "SST-0001" and [a["id"] for a in found["alarms"]] == [alarm]
        assert found["alarm_events"][0]["event"] == "raised"
        with pytest.raises(InputError, match="date prévue"):
            set_status(conn, order, "planned", "operatrice", NOW)
        set_status(conn, order, "planned", "operatrice", NOW, planned_for=date(2026, 12, 2))
        set_status(conn, order, "in_progress", "technicien", NOW + timedelta(days=1))
        add_time(conn, order, 90, "technicien", NOW + timedelta(days=1), "diagnostic")
        add_time(conn, order, 45, "technicien", NOW + timedelta(days=1))
        add_part(conn, order, "Sonde de retour PT100", Decimal("1"), "u", "technicien", NOW + timedelta(days=1))
        add_note(conn, order, "Sonde remplacée, régulation recalée.", "technicien", NOW + timedelta(days=1))
        with pytest.raises(InputError, match="quantité"):
            add_part(conn, order, "Joint", Decimal("-2"), "u", "technicien", NOW)
        set_status(conn, order, "done", "technicien", NOW + timedelta(days=1, hours=2), "remis en service")
        with pytest.raises(StateError, match="close"):
            add_time(conn, order, 10, "technicien", NOW + timedelta(days=2))
        with pytest.raises(StateError, match="terminée"):
            set_status(conn, order, "in_progress", "technicien", NOW + timedelta(days=2))
        done = read_order(conn, order)
    assert done["status"] == "done" and done["time_spent_min"] == 135 and done["proof_status"] == "pending"
    assert done["started_at"] == NOW + timedelta(days=1) and done["finished_at"] == NOW + timedelta(days=1, hours=2)
    assert [p["designation"] for p in done["parts"]] == ["Sonde de retour PT100"]
    assert [e["event"] for e in done["events"]] == ["created", "alarm", "status", "status", "time", "time", "part",
                                                    "note", "status"]
    assert done["events"][-1]["comment"] == "en cours → terminée : remis en service"


def test_a_request_on_a_substation_with_an_open_alarm_joins_its_order(net: Database) -> None:
    with net.pool.connection() as conn:
        abo1, abo2, abo4 = (int(conn.execute("SELECT id FROM subscribers WHERE code = %s", (c,)).fetchone()[0])  # type: ignore[index]
                            for c in ("ABO-1", "ABO-2", "ABO-4"))
        alarm = raise_alarm(conn, "SST-0002")
        joined = file_request(conn, abo1, "PDL-0002", "no_heating", "Radiateurs froids depuis ce matin", "abonne", NOW)
        with pytest.raises(UnknownError, match="hors de vos contrats"):
            file_request(conn, abo2, "PDL-0001", "noise", "", "abonne-deux", NOW)
        with pytest.raises(UnknownError):  # ABO-2's contract on PDL-0003 ended in June
            file_request(conn, abo2, "PDL-0003", "noise", "", "abonne-deux", NOW)
        with pytest.raises(InputError, match="motif"):
            file_request(conn, abo1, "PDL-0001", "froid", "", "abonne", NOW)
        waiting = file_request(conn, abo4, "PDL-0003", "noise", "Sifflement dans la sous-station", "abonne-4", NOW)
        requests = {r["id"]: r for r in list_requests(conn)}
        order = order_from_alarm(conn, alarm, "operatrice", NOW)
        assert requests[joined]["work_order_id"] == order and requests[joined]["status"] == "in_progress"
        assert "déjà signalé" in requests[joined]["answer"]
        assert requests[waiting]["work_order_id"] is None and requests[waiting]["status"] == "open"
        assert [r["id"] for r in list_requests(conn, subscriber_id=abo4)] == [waiting]
        opened = order_from_request(conn, waiting, "operatrice", NOW)
        assert order_from_request(conn, waiting, "operatrice", NOW) == opened
        assert read_order(conn, order)["requests"][0]["subscriber"].endswith("ABO-1")
        set_status(conn, opened, "in_progress", "technicien", NOW)
        set_status(conn, opened, "done", "technicien", NOW + timedelta(hours=3))
        closed = {r["id"]: r for r in list_requests(conn)}[waiting]
        assert closed["status"] == "answered" and f"n° {opened}" in closed["answer"]
        with pytest.raises(StateError):
            answer_request(conn, waiting, "Merci", "operatrice", NOW)
        # the subscriber sees only the orders on its own substations
        assert [o["id"] for o in list_orders(conn, status="", subscriber_id=abo4)[0]] == [opened]
        with pytest.raises(UnknownError):
            read_order(conn, order, subscriber_id=abo4)


def test_preventive_visits_are_generated_once_a_year(net: Database) -> None:
    with net.pool.connection() as conn:
        assert plan_every_substation(conn, "Équipe nord") == 4
        assert plan_every_substation(conn) == 0
        first = generate_visits(conn, 2027, "operatrice", NOW)
        assert len(first) == 4 and generate_visits(conn, 2027, "operatrice", NOW) == []
        orders = [read_order(conn, i) for i in first]
        assert {o["kind"] for o in orders} == {"preventive"} and {o["plan_year"] for o in orders} == {2027}
        assert all(5 <= o["planned_for"].month <= 9 for o in orders)
        set_status(conn, first[0], "cancelled", "operatrice", NOW, "sous-station déposée")
        assert len(generate_visits(conn, 2027, "operatrice", NOW)) == 1  # a cancelled visit is planned again
        assert len(generate_visits(conn, 2028, "operatrice", NOW)) == 4
