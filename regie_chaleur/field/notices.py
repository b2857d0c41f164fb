"""Outage notices in French: the letter for a building's hall (one per substation cut), the notice to a
subscriber (its sites), and sending them by e-mail once each (:func:`send_notices`).

The letters are laid out by the régie's letter template (Typst, :mod:`billing.documents.letters`).
Times are shown in Europe/Paris.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from billing.correspondence import Mail
from billing.documents.letters import Letter, Table, recipient_block, render_letter, sender_block
from billing.errors import BillingError
from billing.store import read_issuer
from regie_chaleur.field import labels
from regie_chaleur.field.errors import UnknownError
from regie_chaleur.field.outages import claim_notices, notices_due, read_outage

log = logging.getLogger(__name__)
PARIS = ZoneInfo("Europe/Paris")


def when(at: datetime | None) -> str:
    """« mardi 15/12/2026 à 08 h 00 » (Europe/Paris)."""
    if at is None:
        return "—"
    local = at.astimezone(PARIS)
    days = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
    return f"{days[local.weekday()]} {local:%d/%m/%Y} à {local:%H} h {local:%M}"


def period_text(outage: dict[str, Any]) -> str:
    if outage["kind"] == "planned":
        return f"du {when(outage['start_at'])} au {when(outage['end_at'])}"
    return (f"depuis le {when(outage['start_at'])} ; retour du chauffage et de l'eau chaude estimé le "
            f"{when(outage['estimated_return_at'])}")


def _body(outage: dict[str, Any]) -> list[str]:
    if outage["kind"] == "planned":
        first = (f"Pour des travaux sur le réseau de chaleur ({outage['title']}), la fourniture de chauffage et "
                 f"d'eau chaude sanitaire sera interrompue {period_text(outage)}.")
    else:
        first = (f"À la suite d'un incident sur le réseau de chaleur ({outage['title']}), la fourniture de "
                 f"chauffage et d'eau chaude sanitaire est interrompue {period_text(outage)}.")
    return [first, *([outage["reason"]] if outage["reason"] else []),
            "Nos équipes mettent tout en œuvre pour limiter la gêne. Pendant la coupure, ne manœuvrez pas les "
            "vannes de la sous-station ; à la remise en service, le chauffage revient progressivement en "
            "quelques heures.",
            "Nous vous prions de nous excuser pour la gêne occasionnée."]


def hall_notice(conn: psycopg.Connection, outage_id: int, substation_code: str) -> bytes:
    """The notice for the hall of the buildings a substation heats (PDF)."""
    outage = read_outage(conn, outage_id)
    sub = next((s for s in outage["substations"] if s["code"] == substation_code), None)
    if sub is None:
        raise UnknownError(f"la sous-station {substation_code[:64]} n'est pas concernée par la coupure {outage_id}")
    issuer = read_issuer(conn)
    points = conn.execute("SELECT name, address FROM delivery_points WHERE substation_id = %s ORDER BY code",
                          (sub["id"],)).fetchall()
    title = "Avis de coupure de chauffage" if outage["kind"] == "planned" else "Coupure de chauffage en cours"
    letter = Letter(
        title=f"{title} – {sub['name']}", kind="AVIS", sender=sender_block(issuer),
        recipient={"name": "Aux occupants", "lines": [sub["address"] or sub["name"]],
                   "ids": f"Sous-station {sub['code']}"},
        place_date=f"{issuer['city']}, le {datetime.now(PARIS):%d/%m/%Y}",
        facts=[["Objet", labels.OUTAGE_KINDS[outage["kind"]]], ["Période", period_text(outage)],
               ["Référence", f"coupure n° {outage_id}"]],
        before=["Madame, Monsieur,", *_body(outage)],
        table=Table(["Bâtiment desservi", "Adresse"], [[n, a or "—"] for n, a in points], ["1fr", "1fr"], [])
        if points else None,
        signature=issuer["name"], notes=["Avis à afficher dans le hall de l'immeuble."])
    return render_letter(letter)


def subscriber_notice(conn: psycopg.Connection, outage_id: int, subscriber_id: int) -> bytes:
    """The notice to one subscriber, listing its delivery points cut (PDF)."""
    outage = read_outage(conn, outage_id)
    issuer = read_issuer(conn)
    with conn.cursor(row_factory=dict_row) as cur:
        subscriber = cur.execute("SELECT * FROM subscribers WHERE id = %s", (subscriber_id,)).fetchone()
        points = cur.execute(
            """SELECT DISTINCT dp.code, dp.name, dp.address FROM outage_substations os
               JOIN delivery_points dp ON dp.substation_id = os.substation_id
               JOIN contracts c ON c.delivery_point_id = dp.id AND c.subscriber_id = %s
               WHERE os.outage_id = %s ORDER BY dp.code""", (subscriber_id, outage_id)).fetchall()
    if subscriber is None or not points:
        raise UnknownError(f"la coupure {outage_id} ne concerne pas cet abonné")
    letter = Letter(
        title=f"{labels.OUTAGE_KINDS[outage['kind']].capitalize()} n° {outage_id}", kind="AVIS",
        sender=sender_block(issuer), recipient=recipient_block(subscriber),
        place_date=f"{issuer['city']}, le {datetime.now(PARIS):%d/%m/%Y}",
        facts=[["Objet", labels.OUTAGE_KINDS[outage["kind"]]], ["Période", period_text(outage)]],
        before=["Madame, Monsieur,", *_body(outage), "Vos points de livraison concernés :"],
        table=Table(["Point de livraison", "Site", "Adresse"], [[p["code"], p["name"], p["address"] or "—"]
                                                               for p in points], ["auto", "1fr", "1fr"], []),
        after=["Un avis à afficher dans le hall de chaque immeuble est disponible dans votre espace abonné."],
        signature=issuer["name"])
    return render_letter(letter)


def send_notices(conn: psycopg.Connection, now: datetime, mailer: Callable[[Mail], None] | None) -> dict[str, int]:
    """Every notice due: recorded once per subscriber, e-mailed with its PDF when possible; returns counts."""
    emailed = to_post = 0
    for outage_id in notices_due(conn, now):
        outage = read_outage(conn, outage_id)
        for notice in claim_notices(conn, outage_id, now):
            error = None
            if notice["email"] and mailer is not None:
                try:
                    mailer(Mail(to=notice["email"], subject=f"{labels.OUTAGE_KINDS[outage['kind']].capitalize()} : "
                                f"{outage['title']}"[:200], body="\n\n".join(["Madame, Monsieur,", *_body(outage)]),
                                attachment_name=f"avis-coupure-{outage_id}.pdf",
                                attachment=subscriber_notice(conn, outage_id, notice["subscriber_id"])))
                except (OSError, BillingError) as exc:
                    error = str(exc)[:500]
                    log.warning("outage %s: notice to %s not e-mailed: %s", outage_id, notice["email"], exc)
            sent = notice["email"] if notice["email"] and mailer is not None and error is None else None
            conn.execute("UPDATE outage_notices SET emailed_to = %s, error = %s WHERE id = %s",
                         (sent, error, notice["id"]))
            emailed += sent is not None
            to_post += sent is None
    return {"notices_emailed": emailed, "notices_to_post": to_post}
