"""Work orders (interventions): created from an alarm, a subscriber's request, a maintenance plan or by
hand, on one substation, plant or network section; their life cycle and history.

Status: to_plan → planned (a date) → in_progress → done, or cancelled from any open state; an urgent
repair may start without being planned. Every change is a row of ``work_order_events`` (who, when,
what). Closing an order on a substation queues its proof of repair (:mod:`regie_chaleur.field.repair`)
and answers the subscribers' requests it carried.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row

from regie_chaleur.field import labels
from regie_chaleur.field.errors import InputError, StateError, UnknownError

PLACES = {"substation": ("substations", "substation_id"), "plant": ("plants", "plant_id"),
          "network_section": ("network_sections", "network_section_id")}
TRANSITIONS = {"to_plan": {"planned", "in_progress", "cancelled"}, "planned": {"to_plan", "in_progress", "cancelled"},
               "in_progress": {"done", "cancelled"}, "done": set(), "cancelled": set()}
OPEN = ("to_plan", "planned", "in_progress")
MAX_MINUTES = 24 * 60  # [min] time added at once


def resolve_place(conn: psycopg.Connection, kind: str, code: str) -> tuple[str, int]:
    """The order's column and the id of the place (``kind`` substation, plant or network_section).

    Raises:
        InputError: an unknown kind or code.
    """
    if kind not in PLACES:
        raise InputError(f"lieu : « {kind} » n'est pas substation, plant ou network_section")
    table, column = PLACES[kind]
    row = conn.execute(f"SELECT id FROM {table} WHERE code = %s", (code.strip(),)).fetchone()
    if row is None:  # a value given in a form or a request's body: refused as such (422)
        raise InputError(f"lieu inconnu : {code.strip()[:64]}")
    return column, int(row[0])


def record_event(conn: psycopg.Connection, order_id: int, event: str, by: str, now: datetime,
                 comment: str = "") -> None:
    """A line of the order's history."""
    conn.execute("INSERT INTO work_order_events (work_order_id, at, event, by_whom, comment) "
                 "VALUES (%s, %s, %s, %s, %s)", (order_id, now, event, by, comment))


def create_order(conn: psycopg.Connection, *, title: str, kind: str, place: tuple[str, str], by: str, now: datetime,
                 priority: str = "normal", team: str = "", description: str = "", planned_for: date | None = None,
                 origin: str = "manual", alarm_id: int | None = None, plan_year: int | None = None) -> int:
    """A new order on ``place`` = (kind, code); returns its id.

    Raises:
        InputError: a title, kind or priority that is not allowed; UnknownError: the place does not exist.
    """
    title = title.strip()
    if not 0 < len(title) <= 200:
        raise InputError("intitulé : obligatoire, 200 caractères au plus")
    if kind not in labels.KINDS:
        raise InputError(f"type : « {kind} » n'est pas {', '.join(labels.KINDS)}")
    if priority not in labels.PRIORITIES:
        raise InputError(f"priorité : « {priority} » n'est pas {', '.join(labels.PRIORITIES)}")
    with conn.transaction():
        column, place_id = resolve_place(conn, *place)
        status = "planned" if planned_for and origin != "maintenance_plan" else "to_plan"
        row = conn.execute(
            f"""INSERT INTO work_orders (kind, priority, status, origin, title, description, {column}, team,
                    planned_for, plan_year, created_by, created_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
            (kind, priority, status, origin, title, description.strip(), place_id, team.strip()[:100], planned_for,
             plan_year, by, now)).fetchone()
        order_id = int(row[0])  # type: ignore[index]
        record_event(conn, order_id, "created", by, now,
                     f"{labels.KINDS[kind]}, priorité {labels.PRIORITIES[priority]}, "
                     f"origine : {labels.ORIGINS[origin]}")
        if alarm_id is not None:
            link_alarm(conn, order_id, alarm_id, by, now)
    return order_id


def order_from_alarm(conn: psycopg.Connection, alarm_id: int, by: str, now: datetime, team: str = "") -> int:
    """The order answering an alarm: the one it already joined, or a new repair on its substation (or its
    device's plant), urgent for a critical alarm."""
    with conn.transaction():
        found = conn.execute("SELECT work_order_id FROM work_order_alarms WHERE alarm_id = %s", (alarm_id,)).fetchone()
        if found:
            return int(found[0])
        alarm = conn.execute(
            """SELECT a.severity, a.message, s.code, p.code FROM alarms a
               LEFT JOIN substations s ON s.id = a.substation_id LEFT JOIN devices d ON d.id = a.device_id
               LEFT JOIN plants p ON p.id = d.plant_id WHERE a.id = %s""",
            (alarm_id,)).fetchone()
        if alarm is None:
            raise UnknownError(f"alarme inconnue : {alarm_id}")
        severity, message, substation, plant = alarm
        if substation is None and plant is None:
            raise StateError(f"l'alarme {alarm_id} ne désigne ni sous-station ni unité de production")
        place = ("substation", substation) if substation else ("plant", plant)
        priority = {"critical": "urgent", "warning": "high"}.get(severity, "normal")
        return create_order(conn, title=f"Dépannage : {message}"[:200], kind="repair", place=place, by=by, now=now,
                            priority=priority, team=team, origin="alarm", alarm_id=alarm_id)


def link_alarm(conn: psycopg.Connection, order_id: int, alarm_id: int, by: str, now: datetime) -> None:
    """Attach an alarm to an order (an alarm answers to one order)."""
    with conn.transaction():
        alarm = conn.execute("SELECT message FROM alarms WHERE id = %s", (alarm_id,)).fetchone()
        if alarm is None:
            raise InputError(f"alarme inconnue : {alarm_id}")
        taken = conn.execute("INSERT INTO work_order_alarms (work_order_id, alarm_id) VALUES (%s, %s) "
                             "ON CONFLICT (alarm_id) DO NOTHING RETURNING alarm_id", (order_id, alarm_id)).fetchone()
        if taken is None:
            raise StateError(f"l'alarme {alarm_id} est déjà rattachée à une intervention")
        record_event(conn, order_id, "alarm", by, now, f"alarme n° {alarm_id} : {alarm[0]}")


def _locked(conn: psycopg.Connection, order_id: int) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT * FROM work_orders WHERE id = %s FOR UPDATE", (order_id,)).fetchone()
    if row is None:
        raise UnknownError(f"intervention inconnue : {order_id}")
    return row


def set_status(conn: psycopg.Connection, order_id: int, status: str, by: str, now: datetime, comment: str = "",
               planned_for: date | None = None) -> None:
    """Move an order to ``status``; ``planned`` needs a date (given or already set).

    Raises:
        StateError: the move is not allowed from the order's status; InputError: planned without a date.
    """
    if status not in labels.STATUSES:
        raise InputError(f"statut : « {status} » inconnu")
    with conn.transaction():
        order = _locked(conn, order_id)
        if status not in TRANSITIONS[order["status"]]:
            raise StateError(f"l'intervention {order_id} est {labels.STATUSES[order['status']]} : elle ne peut pas "
                             f"passer à « {labels.STATUSES[status]} »")
        day = planned_for or order["planned_for"]
        if status == "planned" and day is None:
            raise InputError("date prévue : obligatoire pour planifier")
        conn.execute(
            """UPDATE work_orders SET status = %(s)s, planned_for = %(day)s,
                   started_at = CASE WHEN %(s)s = 'in_progress' THEN coalesce(started_at, %(now)s) ELSE started_at END,
                   finished_at = CASE WHEN %(s)s = 'done' THEN %(now)s ELSE finished_at END,
                   proof_status = CASE WHEN %(s)s = 'done' AND substation_id IS NOT NULL THEN 'pending'
                                       ELSE proof_status END
               WHERE id = %(id)s""", {"s": status, "day": day, "now": now, "id": order_id})
        text = f"{labels.STATUSES[order['status']]} → {labels.STATUSES[status]}"
        if status == "planned":
            text += f" le {day:%d/%m/%Y}"
        record_event(conn, order_id, "status", by, now, f"{text}{' : ' + comment.strip() if comment.strip() else ''}")
        if status in ("done", "cancelled"):
            word = "terminée" if status == "done" else "annulée"
            conn.execute(
                """UPDATE service_requests SET status = 'answered', answered_at = %s, answered_by = %s,
                       answer = coalesce(answer || ' ', '') || %s WHERE work_order_id = %s AND status <> 'answered'""",
                (now, by, f"L'intervention n° {order_id} est {word} le {now:%d/%m/%Y}."
                 + (f" {comment.strip()}" if comment.strip() else ""), order_id))


def add_note(conn: psycopg.Connection, order_id: int, text: str, by: str, now: datetime) -> None:
    text = text.strip()
    if not 0 < len(text) <= 4000:
        raise InputError("note : obligatoire, 4 000 caractères au plus")
    with conn.transaction():
        _locked(conn, order_id)
        record_event(conn, order_id, "note", by, now, text)


def add_time(conn: psycopg.Connection, order_id: int, minutes: int, by: str, now: datetime, comment: str = "") -> None:
    """Add time spent [min] (1 to 1,440 at once) to an open order."""
    if not 0 < minutes <= MAX_MINUTES:
        raise InputError(f"temps passé : entre 1 et {MAX_MINUTES} minutes à la fois")
    with conn.transaction():
        if _locked(conn, order_id)["status"] not in OPEN:
            raise StateError(f"l'intervention {order_id} est close : on n'y ajoute plus de temps")
        conn.execute("UPDATE work_orders SET time_spent_min = time_spent_min + %s WHERE id = %s", (minutes, order_id))
        note = f" : {comment.strip()}" if comment.strip() else ""
        record_event(conn, order_id, "time", by, now, f"{minutes} min{note}")


def add_part(conn: psycopg.Connection, order_id: int, designation: str, quantity: Decimal, unit: str, by: str,
             now: datetime) -> None:
    """A part used (quantity > 0 in ``unit``) on an open order."""
    designation = designation.strip()
    if not 0 < len(designation) <= 200:
        raise InputError("pièce : désignation obligatoire, 200 caractères au plus")
    if not Decimal("0") < quantity < Decimal("100000") or quantity != quantity.quantize(Decimal("0.01")):
        raise InputError("pièce : quantité positive, deux décimales au plus")
    with conn.transaction():
        if _locked(conn, order_id)["status"] not in OPEN:
            raise StateError(f"l'intervention {order_id} est close : on n'y ajoute plus de pièce")
        conn.execute("INSERT INTO work_order_parts (work_order_id, designation, quantity, unit, added_by, added_at) "
                     "VALUES (%s, %s, %s, %s, %s, %s)", (order_id, designation, quantity, unit.strip()[:20] or "u",
                                                        by, now))
        record_event(conn, order_id, "part", by, now, f"{quantity} {unit.strip() or 'u'} × {designation}")


ORDER_SQL = """
SELECT o.*, s.code AS substation, s.name AS substation_name, p.code AS plant, p.name AS plant_name,
       n.code AS network_section, n.name AS section_name
FROM work_orders o LEFT JOIN substations s ON s.id = o.substation_id LEFT JOIN plants p ON p.id = o.plant_id
LEFT JOIN network_sections n ON n.id = o.network_section_id
"""


def read_order(conn: psycopg.Connection, order_id: int, subscriber_id: int | None = None) -> dict[str, Any]:
    """One order with its events, parts, alarms and requests; with ``subscriber_id``, only an order on a
    substation where that subscriber has (or had) a contract."""
    with conn.cursor(row_factory=dict_row) as cur:
        order = cur.execute(ORDER_SQL + " WHERE o.id = %s AND (%s::bigint IS NULL OR o.substation_id IN ("
                            + SUBSCRIBER_SUBSTATIONS + "))", (order_id, subscriber_id, subscriber_id)).fetchone()
        if order is None:
            raise UnknownError(f"intervention inconnue : {order_id}")
        order["events"] = cur.execute("SELECT at, event, by_whom, comment FROM work_order_events "
                                      "WHERE work_order_id = %s ORDER BY at, id", (order_id,)).fetchall()
        order["parts"] = cur.execute("SELECT designation, quantity, unit, added_by, added_at FROM work_order_parts "
                                     "WHERE work_order_id = %s ORDER BY id", (order_id,)).fetchall()
        order["alarms"] = cur.execute(
            """SELECT a.id, a.rule, a.severity, a.state, a.message, a.raised_at, a.cleared_at FROM alarms a
               JOIN work_order_alarms w ON w.alarm_id = a.id WHERE w.work_order_id = %s ORDER BY a.raised_at""",
            (order_id,)).fetchall()
        order["alarm_events"] = cur.execute(
            """SELECT e.alarm_id, e.at, e.event, e.by_whom, e.comment FROM alarm_events e
               JOIN work_order_alarms w ON w.alarm_id = e.alarm_id WHERE w.work_order_id = %s ORDER BY e.at, e.id""",
            (order_id,)).fetchall()
        order["requests"] = cur.execute(
            """SELECT r.id, r.kind, r.status, r.message, r.created_at, dp.code AS delivery_point, sb.name AS subscriber
               FROM service_requests r JOIN delivery_points dp ON dp.id = r.delivery_point_id
               JOIN subscribers sb ON sb.id = r.subscriber_id
               WHERE r.work_order_id = %s AND (%s::bigint IS NULL OR r.subscriber_id = %s) ORDER BY r.created_at""",
            (order_id, subscriber_id, subscriber_id)).fetchall()
    return order


#: open orders first, the most urgent and soonest at the top; then the closed, the latest first
OPEN_FIRST = """o.status IN ('to_plan', 'planned', 'in_progress') DESC,
    CASE WHEN o.status IN ('to_plan', 'planned', 'in_progress')
         THEN array_position(ARRAY['urgent', 'high', 'normal', 'low'], o.priority) END,
    CASE WHEN o.status IN ('to_plan', 'planned', 'in_progress') THEN o.planned_for END NULLS FIRST,
    coalesce(o.finished_at, o.created_at) DESC, o.id DESC"""
SUBSCRIBER_SUBSTATIONS = """SELECT dp.substation_id FROM contracts c
                            JOIN delivery_points dp ON dp.id = c.delivery_point_id WHERE c.subscriber_id = %s"""


def list_orders(conn: psycopg.Connection, *, status: str = "open", kind: str = "", substation: str = "",
                subscriber_id: int | None = None, limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """A page of orders (newest first) and their count; ``status`` 'open', 'closed', a status or ''.

    With ``subscriber_id``: the orders on that subscriber's substations, without the preventive visits
    not scheduled yet (internal planning, nothing to tell a subscriber)."""
    where = """WHERE (%(st)s = '' OR o.status = %(st)s OR (%(st)s = 'open' AND o.status IN ('to_plan', 'planned',
                 'in_progress')) OR (%(st)s = 'closed' AND o.status IN ('done', 'cancelled')))
               AND (%(kind)s = '' OR o.kind = %(kind)s) AND (%(sub)s = '' OR s.code = %(sub)s)
               AND (%(abo)s::bigint IS NULL OR o.substation_id IN (
                    SELECT dp.substation_id FROM contracts c JOIN delivery_points dp ON dp.id = c.delivery_point_id
                    WHERE c.subscriber_id = %(abo)s))
               AND NOT (%(abo)s::bigint IS NOT NULL AND o.kind = 'preventive' AND o.status = 'to_plan')"""
    params = {"st": status, "kind": kind, "sub": substation.strip(), "abo": subscriber_id, "limit": limit,
              "offset": offset}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(ORDER_SQL + where + f" ORDER BY {OPEN_FIRST} LIMIT %(limit)s OFFSET %(offset)s",
                           params).fetchall()
        total = cur.execute("SELECT count(*) AS n FROM work_orders o LEFT JOIN substations s ON s.id = o.substation_id "
                            + where, params).fetchone()
    return rows, int(total["n"]) if total else 0
