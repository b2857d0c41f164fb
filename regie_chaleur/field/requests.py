"""Subscribers' requests (« pas de chauffage », « pas d'eau chaude », « bruit »...) about one of their
delivery points, answered and tracked.

A request on a substation with an open alarm joins the open order answering that alarm (created if the
alarm had none): the fault is already known, the subscriber is told so, and the order shows who asked.
Otherwise (no open alarm, or only alarms whose order is closed) the request waits for an operator, who
answers it or opens an order from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from regie_chaleur.field import labels
from regie_chaleur.field.errors import InputError, StateError, UnknownError
from regie_chaleur.field.orders import create_order, order_from_alarm, record_event

OWN_POINT = """
SELECT dp.id, dp.substation_id, s.code FROM delivery_points dp JOIN substations s ON s.id = dp.substation_id
WHERE dp.code = %s AND EXISTS (SELECT 1 FROM contracts c WHERE c.delivery_point_id = dp.id AND c.subscriber_id = %s
                                AND c.start_date <= %s AND (c.end_date IS NULL OR c.end_date >= %s))
"""


def file_request(conn: psycopg.Connection, subscriber_id: int, point: str, kind: str, message: str, by: str,
                 now: datetime) -> int:
    """A subscriber's request about its delivery point ``point`` (a code); returns its id.

    Raises:
        UnknownError: the point is not under a current contract of this subscriber; InputError: a bad kind
        or a message over 2,000 characters.
    """
    if kind not in labels.REQUEST_KINDS:
        raise InputError(f"motif : « {kind} » n'est pas {', '.join(labels.REQUEST_KINDS)}")
    message = message.strip()
    if len(message) > 2000 or (kind == "other" and not message):
        raise InputError("message : 2 000 caractères au plus, obligatoire pour le motif « autre »")
    today = now.date()
    with conn.transaction():
        found = conn.execute(OWN_POINT, (point.strip(), subscriber_id, today, today)).fetchone()
        if found is None:
            raise UnknownError(f"point de livraison inconnu ou hors de vos contrats : {point.strip()[:64]}")
        point_id, substation_id, _code = found
        row = conn.execute("""INSERT INTO service_requests (subscriber_id, delivery_point_id, kind, message, created_by,
                                  created_at) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id""",
                           (subscriber_id, point_id, kind, message, by, now)).fetchone()
        request_id = int(row[0])  # type: ignore[index]
        alarm = conn.execute(
            """SELECT a.id FROM alarms a LEFT JOIN work_order_alarms w ON w.alarm_id = a.id
               LEFT JOIN work_orders o ON o.id = w.work_order_id
               WHERE a.substation_id = %s AND a.state <> 'cleared' AND (o.id IS NULL OR o.status IN
                     ('to_plan', 'planned', 'in_progress'))
               ORDER BY o.id IS NULL, a.severity = 'critical' DESC, a.raised_at LIMIT 1""", (substation_id,)).fetchone()
        if alarm is not None:  # an alarm whose order is open, else one without an order yet
            order_id = order_from_alarm(conn, int(alarm[0]), "système", now)
            _join(conn, request_id, order_id, by, now,
                  f"Un défaut est déjà signalé sur votre sous-station : l'intervention n° {order_id} est en cours "
                  "de traitement.")
    return request_id


def _join(conn: psycopg.Connection, request_id: int, order_id: int, by: str, now: datetime, answer: str) -> None:
    row = conn.execute("""SELECT r.kind, sb.name, dp.code FROM service_requests r
                          JOIN subscribers sb ON sb.id = r.subscriber_id
                          JOIN delivery_points dp ON dp.id = r.delivery_point_id WHERE r.id = %s""",
                       (request_id,)).fetchone()
    if row is None:
        raise UnknownError(f"demande inconnue : {request_id}")
    conn.execute("UPDATE service_requests SET work_order_id = %s, status = 'in_progress', answer = %s, "
                 "answered_at = %s, answered_by = %s WHERE id = %s", (order_id, answer, now, by, request_id))
    record_event(conn, order_id, "request", by, now,
           f"demande n° {request_id} ({labels.REQUEST_KINDS[row[0]]}) de {row[1]}, point {row[2]}")


def order_from_request(conn: psycopg.Connection, request_id: int, by: str, now: datetime, team: str = "") -> int:
    """Open a repair order on the request's substation and attach the request to it."""
    with conn.transaction():
        req = conn.execute("""SELECT r.kind, r.work_order_id, s.code, r.status FROM service_requests r
                              JOIN delivery_points dp ON dp.id = r.delivery_point_id
                              JOIN substations s ON s.id = dp.substation_id WHERE r.id = %s FOR UPDATE OF r""",
                           (request_id,)).fetchone()
        if req is None:
            raise UnknownError(f"demande inconnue : {request_id}")
        kind, existing, substation, status = req
        if existing is not None:
            return int(existing)
        if status == "answered":
            raise StateError(f"la demande {request_id} a déjà reçu sa réponse")
        order_id = create_order(conn, title=f"Demande d'abonné : {labels.REQUEST_KINDS[kind]}", kind="repair",
                                place=("substation", substation), by=by, now=now, priority="high", team=team,
                                origin="request")
        _join(conn, request_id, order_id, by, now, f"Une intervention (n° {order_id}) est ouverte pour votre demande.")
    return order_id


def answer_request(conn: psycopg.Connection, request_id: int, answer: str, by: str, now: datetime) -> None:
    """Answer a request (and close it)."""
    answer = answer.strip()
    if not 0 < len(answer) <= 2000:
        raise InputError("réponse : obligatoire, 2 000 caractères au plus")
    with conn.transaction():
        row = conn.execute("UPDATE service_requests SET status = 'answered', answer = %s, answered_at = %s, "
                           "answered_by = %s WHERE id = %s AND status <> 'answered' RETURNING id",
                           (answer, now, by, request_id)).fetchone()
        if row is None:
            raise StateError(f"la demande {request_id} est inconnue ou a déjà sa réponse")


def list_requests(conn: psycopg.Connection, *, subscriber_id: int | None = None, status: str = "",
                  limit: int = 100) -> list[dict[str, Any]]:
    """Requests, newest first (a subscriber's own with ``subscriber_id``); ``status`` 'pending' = not answered."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """SELECT r.id, r.kind, r.status, r.message, r.created_at, r.answer, r.answered_at, r.work_order_id,
                      dp.code AS delivery_point, dp.name AS point_name, s.code AS substation, sb.name AS subscriber,
                      o.status AS order_status
               FROM service_requests r JOIN delivery_points dp ON dp.id = r.delivery_point_id
               JOIN substations s ON s.id = dp.substation_id JOIN subscribers sb ON sb.id = r.subscriber_id
               LEFT JOIN work_orders o ON o.id = r.work_order_id
               WHERE (%(abo)s::bigint IS NULL OR r.subscriber_id = %(abo)s)
                 AND (%(st)s = '' OR r.status = %(st)s OR (%(st)s = 'pending' AND r.status <> 'answered'))
               ORDER BY r.created_at DESC, r.id DESC LIMIT %(limit)s""",
            {"abo": subscriber_id, "st": status, "limit": limit}).fetchall()
