"""Wires field operations into the periodic pass: paging the person on call for critical alarms (and
escalating), sending the outage notices that are due, judging the repairs whose days after have passed.

Each part fails on its own: a failure is logged and the others go on (they are retried next pass).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import psycopg

from regie_chaleur.errors import RegieError
from regie_chaleur.field.notices import send_notices
from regie_chaleur.field.oncall import Pager, Person, page_on_call
from regie_chaleur.field.repair import evaluate_repairs

log = logging.getLogger(__name__)


def notifier_pager(notifier: Any) -> Pager:
    """The on-call pager of the alarm notifier (e-mail to the person, SMS through the gateway)."""
    def page(person: Person, alarms: list[dict[str, Any]]) -> list[str]:
        channels: list[str] = notifier.page(person.name, person.email, person.phone, alarms)
        return channels
    return page


def run_field_pass(conn: psycopg.Connection, now: datetime, *, pager: Pager | None = None,
                   mailer: Callable[[Any], None] | None = None,
                   escalate_after: timedelta = timedelta(minutes=15)) -> dict[str, object]:
    """One pass of the field jobs; returns what was done."""
    done: dict[str, object] = {}
    jobs: list[tuple[str, Callable[[], dict[str, int]]]] = [
        ("on_call", lambda: page_on_call(conn, now, pager, escalate_after) if pager else {}),
        ("notices", lambda: send_notices(conn, now, mailer)),
        ("repairs", lambda: evaluate_repairs(conn, now)),
    ]
    for name, job in jobs:
        try:
            done[name] = job()
        except (psycopg.Error, RegieError, ValueError) as exc:
            if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
                conn.rollback()
            log.warning("field job %s failed, retried next pass: %s", name, exc)
            done[name] = f"failed: {exc}"
    return done
