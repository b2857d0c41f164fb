"""Planned and unplanned outages: what they cut, from the network registry, and who is told.

- **What is cut**: works on a substation cut it; on a network section, that section and every section
  below it (the registry's tree); on a plant, the sections it feeds and theirs. The substations are
  computed when the outage is declared and kept with it (``outage_substations``): the notice says
  what was true when it was sent.
- **Who is told**: the subscribers with a contract on a delivery point of those substations over the
  outage's period, once each (``outage_notices``): an e-mail with the notice in PDF when they have an
  address and a mail server is set, otherwise the notice is listed to post. A planned outage's notices
  go ``notice_days`` before it starts; an unplanned one's at once, with its estimated return time.
  The portal shows a banner to the subscribers concerned from then until the outage ends, and each
  substation's notice for the building's hall is a PDF (:mod:`regie_chaleur.field.notices`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from regie_chaleur.field.errors import InputError, StateError, UnknownError
from regie_chaleur.field.orders import resolve_place

#: an outage not over: a planned one until its end, an unplanned one until an operator says heat is back
ACTIVE = ("o.cancelled_at IS NULL AND o.ended_at IS NULL AND (o.kind = 'unplanned' OR o.end_at > %(now)s)")
MAX_LENGTH = timedelta(days=60)  # a declared outage lasts at most this

AFFECTED_SQL = """
WITH RECURSIVE cut(id) AS (
    SELECT id FROM network_sections WHERE id = %(section)s OR plant_id = %(plant)s
    UNION SELECT n.id FROM network_sections n JOIN cut ON n.parent_id = cut.id
)
SELECT s.id FROM substations s
WHERE s.id = %(substation)s OR s.network_section_id IN (SELECT id FROM cut) ORDER BY s.code
"""

SUBSCRIBERS_SQL = """
SELECT DISTINCT c.subscriber_id FROM outage_substations os JOIN outages o ON o.id = os.outage_id
JOIN delivery_points dp ON dp.substation_id = os.substation_id JOIN contracts c ON c.delivery_point_id = dp.id
WHERE os.outage_id = %(id)s AND c.start_date <= coalesce(o.end_at, o.estimated_return_at, o.start_at)::date
  AND (c.end_date IS NULL OR c.end_date >= o.start_at::date)
"""


def affected_substations(conn: psycopg.Connection, place: tuple[str, str]) -> list[int]:
    """The substations an outage on ``place`` = (kind, code) cuts, from the registry."""
    column, place_id = resolve_place(conn, *place)
    keys: dict[str, int | None] = {"substation": None, "section": None, "plant": None}
    keys[{"substation_id": "substation", "network_section_id": "section", "plant_id": "plant"}[column]] = place_id
    return [int(r[0]) for r in conn.execute(AFFECTED_SQL, keys)]


def declare_outage(conn: psycopg.Connection, *, kind: str, title: str, place: tuple[str, str], start: datetime,
                   by: str, now: datetime, end: datetime | None = None, estimated_return: datetime | None = None,
                   notice_days: int = 7, reason: str = "", alarm_id: int | None = None,
                   work_order_id: int | None = None) -> int:
    """Declare an outage and record what it cuts; returns its id.

    A planned outage needs its end and starts in the future; an unplanned one starts now (or earlier)
    and gives an estimated return time. Raises InputError naming the field that is wrong.
    """
    title = title.strip()
    if kind not in ("planned", "unplanned"):
        raise InputError("type : planned ou unplanned")
    if not 0 < len(title) <= 200:
        raise InputError("intitulé : obligatoire, 200 caractères au plus")
    if not 0 <= notice_days <= 60:
        raise InputError("préavis : entre 0 et 60 jours")
    if kind == "planned":
        if end is None or end <= start:
            raise InputError("fin : obligatoire pour une coupure programmée, après le début")
        if start <= now:
            raise InputError("début : une coupure programmée commence dans le futur (sinon : non programmée)")
    else:
        if start > now + timedelta(minutes=5):
            raise InputError("début : une coupure non programmée a déjà commencé")
        if estimated_return is None or estimated_return <= start:
            raise InputError("retour estimé : obligatoire, après le début")
        notice_days = 0
    if (end or estimated_return or start) - start > MAX_LENGTH:
        raise InputError("durée : 60 jours au plus")
    with conn.transaction():
        substations = affected_substations(conn, place)
        if not substations:
            raise InputError("aucune sous-station n'est alimentée par ce lieu dans le registre du réseau")
        column, place_id = resolve_place(conn, *place)
        row = conn.execute(
            f"""INSERT INTO outages (kind, title, reason, {column}, start_at, end_at, estimated_return_at, notice_days,
                    alarm_id, work_order_id, created_by, created_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
            (kind, title, reason.strip()[:2000], place_id, start, end, estimated_return, notice_days, alarm_id,
             work_order_id, by, now)).fetchone()
        outage_id = int(row[0])  # type: ignore[index]
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO outage_substations (outage_id, substation_id) VALUES (%s, %s)",
                            [(outage_id, s) for s in substations])
    return outage_id


def update_return(conn: psycopg.Connection, outage_id: int, estimated_return: datetime) -> None:
    """A new estimated return time for an unplanned outage still running."""
    row = conn.execute("UPDATE outages SET estimated_return_at = %s WHERE id = %s AND kind = 'unplanned' AND "
                       "ended_at IS NULL AND cancelled_at IS NULL AND start_at < %s RETURNING id",
                       (estimated_return, outage_id, estimated_return)).fetchone()
    if row is None:
        raise StateError(f"la coupure {outage_id} n'est pas une coupure non programmée en cours, ou le retour "
                         "estimé précède son début")


def end_outage(conn: psycopg.Connection, outage_id: int, now: datetime) -> None:
    """Heat is back: the outage ends now (the banner goes)."""
    row = conn.execute("UPDATE outages SET ended_at = %s WHERE id = %s AND ended_at IS NULL AND cancelled_at IS NULL "
                       "AND start_at <= %s RETURNING id", (now, outage_id, now)).fetchone()
    if row is None:
        raise StateError(f"la coupure {outage_id} n'a pas commencé, est déjà terminée ou annulée")


def cancel_outage(conn: psycopg.Connection, outage_id: int, by: str, now: datetime) -> None:
    row = conn.execute("UPDATE outages SET cancelled_at = %s, cancelled_by = %s WHERE id = %s AND cancelled_at IS NULL "
                       "AND ended_at IS NULL RETURNING id", (now, by, outage_id)).fetchone()
    if row is None:
        raise StateError(f"la coupure {outage_id} est déjà terminée ou annulée")


def affected_subscribers(conn: psycopg.Connection, outage_id: int) -> list[int]:
    return [int(r[0]) for r in conn.execute(SUBSCRIBERS_SQL, {"id": outage_id})]


def notices_due(conn: psycopg.Connection, now: datetime) -> list[int]:
    """Outages whose notices should have gone by ``now`` and that still have subscribers to tell."""
    return [int(r[0]) for r in conn.execute(
        """SELECT o.id FROM outages o WHERE """ + ACTIVE + """
             AND o.start_at - make_interval(days => o.notice_days) <= %(now)s
             AND EXISTS (SELECT 1 FROM (""" + SUBSCRIBERS_SQL.replace("%(id)s", "o.id") + """) a
                         WHERE NOT EXISTS (SELECT 1 FROM outage_notices n WHERE n.outage_id = o.id
                                           AND n.subscriber_id = a.subscriber_id))
           ORDER BY o.start_at""", {"now": now})]


def claim_notices(conn: psycopg.Connection, outage_id: int, now: datetime) -> list[dict[str, Any]]:
    """Record the notice of every affected subscriber not told yet (once each, whatever runs at the same
    time) and return them, each with its e-mail address."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """INSERT INTO outage_notices (outage_id, subscriber_id, at)
               SELECT %(id)s, a.subscriber_id, %(now)s FROM (""" + SUBSCRIBERS_SQL + """) a
               ON CONFLICT (outage_id, subscriber_id) DO NOTHING
               RETURNING id, subscriber_id, (SELECT email FROM subscribers WHERE id = subscriber_id) AS email""",
            {"id": outage_id, "now": now}).fetchall()


def read_outage(conn: psycopg.Connection, outage_id: int) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        found = cur.execute(OUTAGE_SQL + " WHERE o.id = %s", (outage_id,)).fetchone()
        if found is None:
            raise UnknownError(f"coupure inconnue : {outage_id}")
        found["substations"] = cur.execute(
            """SELECT s.id, s.code, s.name, s.address, n.name AS section FROM outage_substations os
               JOIN substations s ON s.id = os.substation_id LEFT JOIN network_sections n ON n.id = s.network_section_id
               WHERE os.outage_id = %s ORDER BY s.code""", (outage_id,)).fetchall()
        found["notices"] = cur.execute(
            """SELECT sb.code, sb.name, n.at, n.emailed_to, n.error FROM outage_notices n
               JOIN subscribers sb ON sb.id = n.subscriber_id WHERE n.outage_id = %s ORDER BY sb.name""",
            (outage_id,)).fetchall()
        found["subscribers"] = len(affected_subscribers(conn, outage_id))
    return found


OUTAGE_SQL = """
SELECT o.*, coalesce(s.name, p.name, n.name) AS place_name, coalesce(s.code, p.code, n.code) AS place_code,
       CASE WHEN o.substation_id IS NOT NULL THEN 'substation' WHEN o.plant_id IS NOT NULL THEN 'plant'
            ELSE 'network_section' END AS place_kind,
       (SELECT count(*) FROM outage_substations x WHERE x.outage_id = o.id) AS substation_count,
       (SELECT count(*) FROM outage_notices x WHERE x.outage_id = o.id) AS notice_count
FROM outages o LEFT JOIN substations s ON s.id = o.substation_id LEFT JOIN plants p ON p.id = o.plant_id
LEFT JOIN network_sections n ON n.id = o.network_section_id
"""


def list_outages(conn: psycopg.Connection, now: datetime, current_only: bool = False) -> list[dict[str, Any]]:
    """Outages, the coming and running ones first (``current_only``: only those)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(OUTAGE_SQL + f" WHERE NOT %(cur)s OR ({ACTIVE}) ORDER BY ({ACTIVE}) DESC, o.start_at DESC "
                           "LIMIT 200", {"cur": current_only, "now": now}).fetchall()


def subscriber_notices(conn: psycopg.Connection, subscriber_id: int, now: datetime) -> list[dict[str, Any]]:
    """The outages a subscriber has been told of and that are not over (for the portal's banner: one
    index probe, on every page of the portal)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """SELECT o.id, o.kind, o.title, o.reason, o.start_at, o.end_at, o.estimated_return_at
               FROM outage_notices x JOIN outages o ON o.id = x.outage_id
               WHERE x.subscriber_id = %(abo)s AND """ + ACTIVE + " ORDER BY o.start_at",
            {"abo": subscriber_id, "now": now}).fetchall()
