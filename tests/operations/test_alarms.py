"""Each injected fault raises its alarm and nothing else does; it clears when the fault stops;
hysteresis, acknowledgement, history; notifications to a local webhook and SMTP sink."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from models.detection import Threshold
from regie_chaleur.db.database import Database
from regie_chaleur.operations.alarms import AlarmStateError, acknowledge, clear, evaluate_alarms, set_threshold
from regie_chaleur.operations.notify import Notifier
from tests.operations.support import build_network
from tests.support.sinks import Receiver, SmtpSink, sinks

NOW = datetime(2026, 1, 15, 1, 30, tzinfo=UTC)  # 02:30 in Paris: inside the night-flow window
LATER = NOW + timedelta(hours=2)
FAULTY = {  # substation -> the rule its fault must raise
    "SIM-00001": "comm_lost", "SIM-00002": "frozen_sensor", "SIM-00003": "meter_error",
    "SIM-00004": "counter_backwards", "SIM-00005": "return_too_high", "SIM-00006": "delta_t_too_low",
    "SIM-00007": "power_above_subscribed", "SIM-00008": "night_flow", "SIM-00009": "out_of_range",
}


def inject_faults(db: Database) -> None:
    window = {"lo": NOW - timedelta(minutes=55), "hi": NOW}

    def update(device: str, assignments: str, extra: str = "") -> None:
        conn.execute(f"UPDATE substation_samples SET {assignments} WHERE device_id = "
                     f"(SELECT id FROM devices WHERE code = %(dev)s) AND time > %(lo)s AND time <= %(hi)s {extra}",
                     {**window, "dev": device})

    with db.pool.connection() as conn:
        conn.execute("DELETE FROM substation_samples WHERE device_id IN (SELECT id FROM devices WHERE code LIKE "
                     "'SIM-00001-%%') AND time > %s AND time <= %s", (NOW - timedelta(minutes=45), NOW))
        # the outdoor sensor sticks for the last hour while it moved before and its peers still move
        conn.execute("UPDATE substation_samples SET t_outdoor = 3.25 WHERE device_id = (SELECT id FROM devices "
                     "WHERE code = 'SIM-00002-CTL') AND time > %s AND time <= %s", (NOW - timedelta(minutes=59), NOW))
        update("SIM-00003-MTR", "meter_error_code = 7")
        update("SIM-00004-MTR", "energy = energy - 500, energy_q = 3",
               "AND time = (SELECT max(time) FROM substation_samples WHERE time <= %(hi)s)")
        wobble = "extract(minute FROM time) / 100"  # live values move a little: not a frozen sensor
        update("SIM-00005-MTR", f"t_return_primary = 62 + {wobble}")
        update("SIM-00006-MTR", f"t_supply_primary = 68 + {wobble}, t_return_primary = 54 + {wobble}")
        update("SIM-00008-CTL", "valve_position = 0")
        update("SIM-00009-MTR", "t_supply_primary = 180, t_supply_primary_q = 2",
               "AND time > %(hi)s - interval '10 minutes'")
        # subscribed powers: generous everywhere but SIM-00007, whose load is above its subscription
        conn.execute("UPDATE delivery_points SET subscribed_power_kw = 5000")
        conn.execute("UPDATE delivery_points SET subscribed_power_kw = 20 WHERE code = 'PDL-SIM-00007'")
        set_threshold(conn, "comm_lost", {"interval_s": 600})
        # the history has a sample every 10 minutes: 6 in the frozen window, 6 in the hour before
        set_threshold(conn, "frozen_sensor", {"min_samples": 5, "min_distinct": 4, "min_distinct_power": 4,
                                              "min_distinct_flow": 4})


@pytest.fixture
def network(db: Database) -> Database:
    build_network(db, 12, NOW - timedelta(days=2), LATER + timedelta(minutes=1))
    inject_faults(db)
    return db


def open_alarms(db: Database) -> set[tuple[str, str]]:
    with db.pool.connection() as conn:
        return {(r[0], r[1]) for r in conn.execute(
            "SELECT s.code, a.rule FROM alarms a JOIN substations s ON s.id = a.substation_id "
            "WHERE a.state <> 'cleared'")}


def test_each_fault_raises_its_alarm_only_and_clears_after(network: Database) -> None:
    with network.pool.connection() as conn:
        first = evaluate_alarms(conn, NOW)
    assert open_alarms(network) == {(sub, rule) for sub, rule in FAULTY.items()}
    assert len(first.raised) == len(FAULTY) + 1  # SIM-00001 lost both its devices: one alarm each
    with network.pool.connection() as conn:
        again = evaluate_alarms(conn, NOW + timedelta(minutes=1))
    assert again.raised == []  # deduplicated: still open, not raised twice
    with network.pool.connection() as conn:
        # the faults stopped in the data; the under-subscribed contract is corrected
        conn.execute("UPDATE delivery_points SET subscribed_power_kw = 5000 WHERE code = 'PDL-SIM-00007'")
        later = evaluate_alarms(conn, LATER)
        history = conn.execute("SELECT event, count(*) FROM alarm_events GROUP BY 1 ORDER BY 1").fetchall()
    assert open_alarms(network) == set()
    assert len(later.cleared) == len(FAULTY) + 1
    assert history == [("cleared", len(FAULTY) + 1), ("raised", len(FAULTY) + 1)]


def test_acknowledge_and_clear_life_cycle(network: Database) -> None:
    with network.pool.connection() as conn:
        result = evaluate_alarms(conn, NOW)
        alarm = result.raised[0]
        acknowledge(conn, alarm, "opérateur de quart", "vu, technicien prévenu", NOW)
        with pytest.raises(AlarmStateError):
            acknowledge(conn, alarm, "x", "", NOW)
        clear(conn, alarm, "opérateur de quart", "réparé", NOW)
        with pytest.raises(AlarmStateError):
            clear(conn, alarm, "x", "", NOW)
        row = conn.execute("SELECT state, acknowledged_by, ack_comment, cleared_by FROM alarms WHERE id = %s",
                           (alarm,)).fetchone()
        events = [r[0] for r in conn.execute(
            "SELECT event FROM alarm_events WHERE alarm_id = %s ORDER BY id", (alarm,))]
    assert row == ("cleared", "opérateur de quart", "vu, technicien prévenu", "opérateur de quart")
    assert events == ["raised", "acknowledged", "cleared"]


def test_hysteresis_does_not_flap() -> None:
    t = Threshold(raise_at=55, clear_at=52, direction="above")
    states = []
    active = False
    for value in (54, 55.5, 54.9, 55.1, 53, 52.5, 51.9, 54, 55.2):
        active = t.next_state(active, value)
        states.append(active)
    assert states == [False, True, True, True, True, True, False, False, True]
    low = Threshold(raise_at=20, clear_at=23, direction="below")
    assert [low.next_state(a, v) for a, v in ((False, 19), (True, 22), (True, 23.5), (False, None))] == \
        [True, True, False, False]


@pytest.fixture
def receivers() -> Iterator[tuple[str, int]]:
    with sinks() as found:
        yield found


def test_new_alarms_are_notified_by_webhook_and_email(network: Database, receivers: tuple[str, int]) -> None:
    url, smtp_port = receivers
    notifier = Notifier(webhook_url=url, smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_to=["astreinte@regie.fr"],
                        min_severity="warning")
    with network.pool.connection() as conn:
        evaluate_alarms(conn, NOW, notifier)
    sent = Receiver.bodies[0]["alarms"]
    assert {a["rule"] for a in sent} == {r for r in FAULTY.values() if r != "power_above_subscribed"}  # info: not sent
    assert len(SmtpSink.messages) == 1
    mail = email.message_from_string(SmtpSink.messages[0], policy=email.policy.default)
    assert mail["Subject"].startswith("[régie chaleur] 9 nouvelle(s) alarme(s)")
    assert mail["To"] == "astreinte@regie.fr"
    body = mail.get_content()  # type: ignore[attr-defined]
    assert "Débit nocturne sans demande" in body
    assert "sous-station SIM-00008" in body
    assert notifier.failures == 0


def test_unreachable_notifier_does_not_stop_the_pass(network: Database) -> None:
    notifier = Notifier(webhook_url="http://127.0.0.1:9/none", smtp_host="127.0.0.1", smtp_port=9,
                        smtp_to=["a@b.fr"], timeout_s=1)
    with network.pool.connection() as conn:
        result = evaluate_alarms(conn, NOW, notifier)
    assert len(result.raised) == len(FAULTY) + 1
    assert notifier.failures == 2
