"""Outages: the substations cut computed from the registry's tree of sections; the subscribers under
contract over the period told once each (e-mail with the notice, or to post); notices a set number of
days before a planned outage, at once for an unplanned one; the hall notice as a PDF."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest

from billing.correspondence import Mail
from regie_chaleur.db.database import Database
from regie_chaleur.field.errors import InputError, StateError
from regie_chaleur.field.notices import hall_notice, send_notices
from regie_chaleur.field.outages import (
    affected_substations,
    declare_outage,
    end_outage,
    read_outage,
    subscriber_notices,
)
from regie_chaleur.services.mail import SmtpMailer
from tests.field.support import NOW
from tests.support.sinks import SmtpSink, sinks

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def smtp() -> Iterator[int]:
    with sinks() as (_url, port):
        yield port


def codes(conn: psycopg.Connection, ids: list[int]) -> set[str]:
    return {r[0] for r in conn.execute("SELECT code FROM substations WHERE id = ANY(%s)", (ids,))}


def subscriber_id(conn: psycopg.Connection, code: str) -> int:
    row = conn.execute("SELECT id FROM subscribers WHERE code = %s", (code,)).fetchone()
    assert row is not None
    return int(row[0])


def test_the_substations_cut_follow_the_tree_of_sections(net: Database) -> None:
    with net.pool.connection() as conn:
        assert codes(conn, affected_substations(conn, ("network_section", "BR-A"))) == {"SST-0001", "SST-0002"}
        assert codes(conn, affected_substations(conn, ("network_section", "BR-A1"))) == {"SST-0002"}
        assert codes(conn, affected_substations(conn, ("network_section", "TRONC"))) == \
            {"SST-0001", "SST-0002", "SST-0003", "SST-0004"}
        assert len(affected_substations(conn, ("plant", "PL-1"))) == 4
        assert codes(conn, affected_substations(conn, ("substation", "SST-0003"))) == {"SST-0003"}


def test_a_planned_outage_notifies_each_affected_subscriber_once(net: Database, smtp: int) -> None:
    mailer = SmtpMailer("127.0.0.1", smtp, "exploitation@regie-ivry.fr")
    start = NOW + timedelta(days=10)
    with net.pool.connection() as conn:
        outage = declare_outage(conn, kind="planned", title="Remplacement d'une vanne de sectionnement",
                                place=("network_section", "TRONC"), start=start, end=start + timedelta(hours=8),
                                by="operatrice", now=NOW, notice_days=7, reason="Travaux sur le tronc commun.")
        small = declare_outage(conn, kind="planned", title="Soudure sur l'antenne", place=("network_section", "BR-A"),
                               start=start, end=start + timedelta(hours=4), by="operatrice", now=NOW, notice_days=7)
        assert send_notices(conn, NOW, mailer) == {"notices_emailed": 0, "notices_to_post": 0}  # not yet
        told = send_notices(conn, start - timedelta(days=7), mailer)
        assert told == {"notices_emailed": 3, "notices_to_post": 1}  # ABO-1 twice (two outages), ABO-4; ABO-3 by post
        assert send_notices(conn, start - timedelta(days=6), mailer) == {"notices_emailed": 0, "notices_to_post": 0}
        found = read_outage(conn, outage)
        banner = subscriber_notices(conn, subscriber_id(conn, "ABO-1"), start - timedelta(days=1))
        after = subscriber_notices(conn, subscriber_id(conn, "ABO-1"), start + timedelta(hours=9))
        nothing = subscriber_notices(conn, subscriber_id(conn, "ABO-2"), start - timedelta(days=1))
        pdf = hall_notice(conn, outage, "SST-0003")
    assert {n["code"]: n["emailed_to"] for n in found["notices"]} == {
        "ABO-1": "abo-1@example.fr", "ABO-3": None, "ABO-4": "abo-4@example.fr"}  # ABO-2 left in June
    assert found["substation_count"] == 4 and found["subscribers"] == 3
    assert [b["id"] for b in banner] == [outage, small] and after == [] and nothing == []
    assert pdf.startswith(b"%PDF")
    mails = [email.message_from_string(m, policy=email.policy.default) for m in SmtpSink.messages]
    assert sorted(m["To"] for m in mails) == ["abo-1@example.fr", "abo-1@example.fr", "abo-4@example.fr"]
    attachment = next(iter(mails[0].iter_attachments()))  # type: ignore[attr-defined]
    assert attachment.get_content().startswith(b"%PDF")
    body = mails[0].get_body(("plain",)).get_content()  # type: ignore[attr-defined]
    assert "sera interrompue du" in body


def test_an_unplanned_outage_is_announced_at_once_with_its_return_time(net: Database) -> None:
    sent: list[Mail] = []
    with net.pool.connection() as conn:
        outage = declare_outage(conn, kind="unplanned", title="Fuite sur l'antenne rue Marat",
                                place=("network_section", "BR-A1"), start=NOW - timedelta(minutes=30),
                                estimated_return=NOW + timedelta(hours=6), by="operatrice", now=NOW)
        assert send_notices(conn, NOW, sent.append) == {"notices_emailed": 1, "notices_to_post": 0}
        abo1 = subscriber_id(conn, "ABO-1")
        assert [b["id"] for b in subscriber_notices(conn, abo1, NOW + timedelta(days=1))] == [outage]  # until ended
        end_outage(conn, outage, NOW + timedelta(hours=5))
        assert subscriber_notices(conn, abo1, NOW + timedelta(hours=5, minutes=1)) == []
        with pytest.raises(StateError):
            end_outage(conn, outage, NOW + timedelta(hours=6))
    assert "retour du chauffage et de l'eau chaude estimé le" in sent[0].body


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"kind": "planned", "start": NOW - timedelta(hours=1), "end": NOW + timedelta(hours=1)}, "dans le futur"),
    ({"kind": "planned", "start": NOW + timedelta(days=1)}, "fin"),
    ({"kind": "unplanned", "start": NOW}, "retour estimé"),
    ({"kind": "planned", "start": NOW + timedelta(days=1), "end": NOW + timedelta(days=90)}, "60 jours"),
])
def test_an_outage_declared_wrong_is_refused_with_its_field(net: Database, kwargs: dict[str, object],
                                                            message: str) -> None:
    with net.pool.connection() as conn, pytest.raises(InputError, match=message):
        declare_outage(conn, title="Travaux", place=("substation", "SST-0001"), by="operatrice", now=NOW,
                       **kwargs)  # type: ignore[arg-type]
