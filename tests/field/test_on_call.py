"""A critical alarm pages the person on duty; left unacknowledged it escalates to the next rank, in the
alarm's history; an acknowledgement stops it; a page nobody received escalates at once. Real SMTP and
a real SMS gateway webhook, on local stand-ins."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest

from regie_chaleur.db.database import Database
from regie_chaleur.field.errors import InputError
from regie_chaleur.field.oncall import add_person, assign, on_duty, page_on_call, rota
from regie_chaleur.operations.alarms import acknowledge
from regie_chaleur.operations.notify import Notifier
from regie_chaleur.services.field import notifier_pager
from tests.field.support import NOW, raise_alarm
from tests.support.sinks import Receiver, SmtpSink, sinks

pytestmark = pytest.mark.timeout(120)
LATER = timedelta(minutes=15)


@pytest.fixture
def receivers() -> Iterator[tuple[str, int]]:
    with sinks() as found:
        yield found


@pytest.fixture
def rota_db(net: Database) -> Database:
    with net.pool.connection() as conn:
        alice = add_person(conn, "Alice Martin", email="alice@regie-ivry.fr")
        bruno = add_person(conn, "Bruno Diallo", phone="+33 6 12 34 56 78")
        for week in (NOW.date(), NOW.date() + timedelta(weeks=1)):
            assign(conn, week, 1, alice)
            assign(conn, week, 2, bruno)
    return net


def history(conn: psycopg.Connection, alarm: int) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT event, comment FROM alarm_events WHERE alarm_id = %s ORDER BY at, id", (alarm,))]


def test_unacknowledged_alarm_escalates_to_the_next_person(rota_db: Database, receivers: tuple[str, int]) -> None:
    url, smtp_port = receivers
    pager = notifier_pager(Notifier(smtp_host="127.0.0.1", smtp_port=smtp_port, sms_webhook_url=url))
    with rota_db.pool.connection() as conn:
        assert [p.name for _r, p in sorted(on_duty(conn, NOW).items())] == ["Alice Martin", "Bruno Diallo"]
        assert rota(conn, NOW.date(), 3)[2][1] == {}  # the third week has nobody yet
        alarm = raise_alarm(conn, "SST-0001")
        taken = raise_alarm(conn, "SST-0002")
        assert page_on_call(conn, NOW, pager, LATER) == {"paged": 2, "escalated": 0}
        mail = email.message_from_string(SmtpSink.messages[0], policy=email.policy.default)
        assert mail["To"] == "alice@regie-ivry.fr" and "SST-0001" in mail.get_content()  # type: ignore[attr-defined]
        assert len(SmtpSink.messages) == 1  # both alarms in one message
        acknowledge(conn, taken, "alice", "je m'en occupe", NOW + timedelta(minutes=5))
        assert page_on_call(conn, NOW + timedelta(minutes=10), pager, LATER) == {"paged": 0, "escalated": 0}
        assert Receiver.bodies == []
        assert page_on_call(conn, NOW + timedelta(minutes=16), pager, LATER) == {"paged": 1, "escalated": 1}
        assert Receiver.bodies[0]["to"] == "+33612345678" and Receiver.bodies[0]["alarms"] == [alarm]
        assert page_on_call(conn, NOW + timedelta(hours=2), pager, LATER) == {"paged": 0, "escalated": 0}
        events = history(conn, alarm)
        taken_events = history(conn, taken)
    assert [e for e, _c in events] == ["raised", "notified", "escalated"]
    assert "Alice Martin (rang 1)" in events[1][1] and "e-mail" in events[1][1]
    assert "escalade vers Bruno Diallo (rang 2)" in events[2][1] and "SMS" in events[2][1]
    assert [e for e, _c in taken_events] == ["raised", "notified", "acknowledged"]


def test_a_page_nobody_received_escalates_at_once(rota_db: Database, receivers: tuple[str, int]) -> None:
    url, _smtp_port = receivers
    with socket.socket() as closed:  # a port nobody listens on: the mail server is down
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()[1]
    pager = notifier_pager(Notifier(smtp_host="127.0.0.1", smtp_port=dead, sms_webhook_url=url, timeout_s=2))
    with rota_db.pool.connection() as conn:
        alarm = raise_alarm(conn, "SST-0003")
        page_on_call(conn, NOW, pager, LATER)
        assert page_on_call(conn, NOW + timedelta(minutes=1), pager, LATER) == {"paged": 1, "escalated": 1}
        events = history(conn, alarm)
    assert "aucun canal" in events[1][1] and Receiver.bodies[0]["to"] == "+33612345678"


def test_people_need_a_way_to_be_reached(rota_db: Database) -> None:
    with rota_db.pool.connection() as conn:
        for kwargs, message in (({}, "adresse électronique ou un téléphone"), ({"email": "pas-une-adresse"},
                                "adresse électronique invalide"), ({"phone": "06-AB"}, "téléphone invalide")):
            with pytest.raises(InputError, match=message):
                add_person(conn, "Chloé", **kwargs)
        with pytest.raises(InputError, match="rang"):
            assign(conn, NOW.date(), 9, None)
