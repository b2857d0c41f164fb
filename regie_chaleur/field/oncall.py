"""The on-call rota (astreinte) and the paging of critical alarms, with escalation.

The rota names, for each week (Monday 00:00 to Monday 00:00, Europe/Paris), who is on call by rank.
A critical alarm still *raised* (nobody acknowledged it) pages the week's rank 1; when it is still not
acknowledged ``escalate_after`` later, or when the page could not be delivered, the next rank on duty is
paged, and so on. Each page is a row of ``alarm_pages`` (one per alarm and rank, so two passes never
page twice) and an event in the alarm's history (« notified », then « escalated »). Acknowledging the
alarm stops the escalation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from regie_chaleur.field.errors import InputError

log = logging.getLogger(__name__)
PARIS = ZoneInfo("Europe/Paris")
MAX_RANK = 5


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    email: str | None
    phone: str | None


#: pages one person about alarms; returns the channels that took the message (empty: not delivered)
Pager = Callable[[Person, list[dict[str, Any]]], list[str]]


def week_start(day: date) -> date:
    """The Monday of ``day``'s week."""
    return day - timedelta(days=day.weekday())


def add_person(conn: psycopg.Connection, name: str, email: str = "", phone: str = "") -> int:
    """Someone who can be on call: a name and an e-mail address and/or a phone number (for SMS)."""
    name, email, phone = name.strip(), email.strip(), phone.replace(" ", "").strip()
    if not 0 < len(name) <= 100:
        raise InputError("nom : obligatoire, 100 caractères au plus")
    if email and ("@" not in email or len(email) > 200):
        raise InputError(f"adresse électronique invalide : {email[:60]}")
    if phone and not (phone.lstrip("+").isdigit() and 6 <= len(phone) <= 16):
        raise InputError(f"téléphone invalide : {phone[:20]} (chiffres, + international permis)")
    if not email and not phone:
        raise InputError("une adresse électronique ou un téléphone est nécessaire pour être appelé")
    row = conn.execute("INSERT INTO on_call_people (name, email, phone) VALUES (%s, %s, %s) ON CONFLICT (name) "
                       "DO UPDATE SET email = EXCLUDED.email, phone = EXCLUDED.phone, active = true RETURNING id",
                       (name, email or None, phone or None)).fetchone()
    return int(row[0])  # type: ignore[index]


def assign(conn: psycopg.Connection, week: date, rank: int, person_id: int | None) -> None:
    """Put ``person_id`` on call at ``rank`` the week of ``week`` (None: nobody at that rank)."""
    if not 1 <= rank <= MAX_RANK:
        raise InputError(f"rang : entre 1 et {MAX_RANK}")
    monday = week_start(week)
    if person_id is None:
        conn.execute("DELETE FROM on_call_shifts WHERE week_start = %s AND rank = %s", (monday, rank))
        return
    if conn.execute("SELECT 1 FROM on_call_people WHERE id = %s AND active", (person_id,)).fetchone() is None:
        raise InputError(f"personne d'astreinte inconnue : {person_id}")
    conn.execute("INSERT INTO on_call_shifts (week_start, rank, person_id) VALUES (%s, %s, %s) ON CONFLICT "
                 "(week_start, rank) DO UPDATE SET person_id = EXCLUDED.person_id", (monday, rank, person_id))


def people(conn: psycopg.Connection) -> list[Person]:
    return [Person(*r) for r in conn.execute(
        "SELECT id, name, email, phone FROM on_call_people WHERE active ORDER BY name")]


def rota(conn: psycopg.Connection, first: date, weeks: int) -> list[tuple[date, dict[int, Person]]]:
    """Each week from ``first``'s: who is on call, by rank."""
    monday = week_start(first)
    found: dict[date, dict[int, Person]] = {monday + timedelta(weeks=i): {} for i in range(weeks)}
    for week, rank, *person in conn.execute(
            """SELECT s.week_start, s.rank, p.id, p.name, p.email, p.phone FROM on_call_shifts s
               JOIN on_call_people p ON p.id = s.person_id WHERE s.week_start >= %s AND s.week_start < %s""",
            (monday, monday + timedelta(weeks=weeks))):
        found[week][rank] = Person(*person)
    return sorted(found.items())


def on_duty(conn: psycopg.Connection, at: datetime) -> dict[int, Person]:
    """Who is on call at ``at``, by rank."""
    return rota(conn, at.astimezone(PARIS).date(), 1)[0][1]


PENDING_SQL = """
SELECT a.id, a.message, a.raised_at, s.code, max(p.rank), (array_agg(p.at ORDER BY p.rank DESC))[1],
       (array_agg(p.delivered ORDER BY p.rank DESC))[1]
FROM alarms a LEFT JOIN substations s ON s.id = a.substation_id LEFT JOIN alarm_pages p ON p.alarm_id = a.id
WHERE a.state = 'raised' AND a.severity = 'critical'
GROUP BY a.id, s.code ORDER BY a.raised_at
"""


def page_on_call(conn: psycopg.Connection, now: datetime, pager: Pager,
                 escalate_after: timedelta = timedelta(minutes=15)) -> dict[str, int]:
    """Page rank 1 for new critical alarms, the next rank for those left unacknowledged (or undelivered);
    returns the counts of pages sent and escalations."""
    duty = on_duty(conn, now)
    due: list[tuple[int, str, str | None, int, Person, bool]] = []  # alarm, message, substation, rank, who, escalation
    for alarm_id, message, _raised, substation, last_rank, last_at, delivered in conn.execute(PENDING_SQL):
        if last_rank is not None and delivered and now - last_at < escalate_after:
            continue
        rank = next((r for r in sorted(duty) if r > (last_rank or 0)), None)
        if rank is None:
            continue  # nobody further on duty: the alarm stays on the console, unacknowledged
        due.append((alarm_id, message, substation, rank, duty[rank], last_rank is not None))
    by_person: dict[int, list[tuple[int, str, str | None, int, Person, bool]]] = {}
    with conn.transaction():
        for item in due:
            taken = conn.execute("INSERT INTO alarm_pages (alarm_id, person_id, rank, at, delivered) VALUES "
                                 "(%s, %s, %s, %s, false) ON CONFLICT (alarm_id, rank) DO NOTHING RETURNING id",
                                 (item[0], item[4].id, item[3], now)).fetchone()
            if taken is not None:
                by_person.setdefault(item[4].id, []).append(item)
    escalations = 0
    for items in by_person.values():
        who = items[0][4]
        channels = pager(who, [{"id": a, "message": m, "substation": s} for a, m, s, *_ in items])
        with conn.transaction():
            for alarm_id, _m, _s, rank, _who, escalated in items:
                conn.execute("UPDATE alarm_pages SET delivered = %s, channels = %s WHERE alarm_id = %s AND rank = %s",
                             (bool(channels), ", ".join(channels), alarm_id, rank))
                how = ", ".join(channels) if channels else "aucun canal n'a accepté le message"
                comment = (f"non acquittée : escalade vers {who.name} (rang {rank}) — {how}" if escalated
                           else f"astreinte : {who.name} (rang {rank}) appelé — {how}")
                conn.execute("INSERT INTO alarm_events (alarm_id, at, event, by_whom, comment) VALUES (%s, %s, %s, "
                             "'astreinte', %s)", (alarm_id, now, "escalated" if escalated else "notified", comment))
                escalations += escalated
        if not channels:
            log.warning("on-call page to %s not delivered (no channel took it)", who.name)
    return {"paged": sum(len(v) for v in by_person.values()), "escalated": escalations}
