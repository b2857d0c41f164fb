"""Tariff versions and VAT periods succeed one another, as the board votes new prices every January and the
network's renewable share changes.

A new version (or period) that starts on a date ends the open-ended one before it on that date
(``valid_to`` is exclusive: the old one's last day is the day before), provided no issued invoice billed
the old one for a day it takes away; otherwise a clear error names the invoice. The same check closes a
version or a period explicitly. The database keeps the rule too: a locked tariff can only be ended, and
never before the last day an issued invoice billed it (trigger ``tariffs_succession_guard``).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import psycopg

from billing import fr
from billing.errors import FieldError, NotFoundError, ValidationError
from billing.runs import audit


def tariff_in_use_after(conn: psycopg.Connection, tariff_id: int, end: date) -> tuple[str, date] | None:
    """The issued invoice that billed tariff ``tariff_id`` the furthest past ``end`` (its number and the
    last day it billed), if any."""
    row = conn.execute(
        """SELECT i.number, max(l.period_end) FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id
           WHERE i.status = 'issued' AND (l.details ->> 'tariff_id')::bigint = %s AND l.period_end > %s
           GROUP BY i.number ORDER BY 2 DESC LIMIT 1""", (tariff_id, end)).fetchone()
    return (row[0], row[1] - timedelta(days=1)) if row else None


def tariff_succession(conn: psycopg.Connection, category: str, start: date, end: date | None
                      ) -> tuple[int | None, list[str]]:
    """What importing the version of ``category`` valid over [start, end) does to the versions already
    there: the id of the open-ended version it ends on ``start`` (None: none), and the problems (French)."""
    problems = []
    ended = None
    rows = conn.execute("SELECT id, valid_from, valid_to FROM tariffs WHERE category = %s AND valid_from <> %s "
                        "ORDER BY valid_from", (category, start)).fetchall()
    for tariff_id, valid_from, valid_to in rows:
        if valid_from < start and (valid_to is None or valid_to > start):
            if valid_to is not None:
                problems.append(f"chevauche le tarif {category} du {fr.day(valid_from)} au "
                                f"{fr.day(valid_to - timedelta(days=1))}")
                continue
            used = tariff_in_use_after(conn, tariff_id, start)
            if used is not None:
                problems.append(f"le tarif {category} du {fr.day(valid_from)} ne peut finir le "
                                f"{fr.day(start - timedelta(days=1))} : la facture {used[0]} l'applique jusqu'au "
                                f"{fr.day(used[1])} (émettre d'abord un avoir)")
                continue
            ended = int(tariff_id)
        elif valid_from > start and (end is None or end > valid_from):
            problems.append(f"chevauche le tarif {category} qui commence le {fr.day(valid_from)} : "
                            f"indiquer une fin (valid_to) au plus tard ce jour-là")
    return ended, problems


def close_tariff(conn: psycopg.Connection, category: str, valid_from: date, valid_to: date, *, actor: str) -> None:
    """End the tariff version of ``category`` starting ``valid_from``: ``valid_to`` is the first day it no
    longer applies (the first of a month, as deliberations take effect on the first).

    Raises:
        NotFoundError: no such version.
        ValidationError: a date not after its start or not a first of a month, or an issued invoice that
            billed it past the new end (named).
    """
    row = conn.execute("SELECT id, valid_to FROM tariffs WHERE category = %s AND valid_from = %s",
                       (category, valid_from)).fetchone()
    if row is None:
        raise NotFoundError(f"pas de tarif {category} commençant le {fr.day(valid_from)}")
    errors = []
    if valid_to <= valid_from or valid_to.day != 1:
        errors.append(FieldError("valid_to", "doit être un premier du mois, après le début du tarif"))
    used = tariff_in_use_after(conn, int(row[0]), valid_to)
    if used is not None:
        errors.append(FieldError("valid_to", f"la facture {used[0]} applique ce tarif jusqu'au {fr.day(used[1])} "
                                             f"(émettre d'abord un avoir)"))
    if errors:
        raise ValidationError(errors)
    with conn.transaction():
        conn.execute("UPDATE tariffs SET valid_to = %s WHERE id = %s", (valid_to, row[0]))
        audit(conn, actor, "closed", "tariff", int(row[0]), {"category": category, "valid_to": valid_to.isoformat()})


# --- VAT ----------------------------------------------------------------------------------------------
RENEWABLE_THRESHOLD_PCT = Decimal(50)  # CGI art. 278-0 bis B: reduced VAT on R1 from 50 % renewable or recovered


def vat_rate(conn: psycopg.Connection, kind: str, on: date) -> Decimal:
    """The ``reduced`` or ``normal`` VAT rate [%] in force on ``on`` (table ``vat_rates``).

    Raises:
        ValidationError: no rate recorded for that day.
    """
    row = conn.execute("SELECT rate_pct FROM vat_rates WHERE kind = %s AND valid_from <= %s "
                       "AND (valid_to IS NULL OR valid_to > %s) ORDER BY valid_from DESC LIMIT 1",
                       (kind, on, on)).fetchone()
    if row is None:
        label = "réduit" if kind == "reduced" else "normal"
        raise ValidationError([FieldError("valid_from", f"aucun taux de TVA {label} enregistré au {fr.day(on)}")])
    return Decimal(row[0])


def vat_rates_on(conn: psycopg.Connection, renewable_share_pct: Decimal, on: date) -> tuple[Decimal, Decimal]:
    """(R1 rate, R2 rate) [%] of a network with that renewable-and-recovered share on ``on``: R2 always at the
    reduced rate, R1 at the reduced rate from the threshold on, else at the normal rate."""
    reduced = vat_rate(conn, "reduced", on)
    return (reduced if renewable_share_pct >= RENEWABLE_THRESHOLD_PCT else vat_rate(conn, "normal", on)), reduced


def vat_in_use_after(conn: psycopg.Connection, network: str, valid_from: date, end: date) -> tuple[str, date] | None:
    """The issued invoice of ``network`` whose last day lies on or after ``end`` and was billed with the VAT
    period starting ``valid_from`` (an invoice takes the VAT period of its last day)."""
    row = conn.execute(
        """SELECT i.number, i.period_end - 1 FROM invoices i JOIN contracts c ON c.id = i.contract_id
           JOIN delivery_points dp ON dp.id = c.delivery_point_id JOIN substations s ON s.id = dp.substation_id
           WHERE i.status = 'issued' AND i.kind = 'invoice' AND s.network = %s
             AND i.period_end - 1 >= %s AND i.period_end - 1 >= %s
           ORDER BY i.period_end DESC LIMIT 1""", (network, end, valid_from)).fetchone()
    return (row[0], row[1]) if row else None


def vat_succession(conn: psycopg.Connection, network: str, start: date, end: date | None
                   ) -> tuple[int | None, list[str]]:
    """As :func:`tariff_succession`, for the VAT periods of ``network``."""
    problems = []
    ended = None
    rows = conn.execute("SELECT id, valid_from, valid_to FROM vat_periods WHERE network = %s AND valid_from <> %s "
                        "ORDER BY valid_from", (network, start)).fetchall()
    for period_id, valid_from, valid_to in rows:
        if valid_from < start and (valid_to is None or valid_to > start):
            if valid_to is not None:
                problems.append(f"chevauche la période de TVA du {fr.day(valid_from)} au "
                                f"{fr.day(valid_to - timedelta(days=1))}")
                continue
            used = vat_in_use_after(conn, network, valid_from, start)
            if used is not None:
                problems.append(f"la période de TVA du {fr.day(valid_from)} ne peut finir le "
                                f"{fr.day(start - timedelta(days=1))} : la facture {used[0]} (jusqu'au "
                                f"{fr.day(used[1])}) l'applique (émettre d'abord un avoir)")
                continue
            ended = int(period_id)
        elif valid_from > start and (end is None or end > valid_from):
            problems.append(f"chevauche la période de TVA qui commence le {fr.day(valid_from)}")
    return ended, problems


def close_vat_period(conn: psycopg.Connection, network: str, valid_from: date, valid_to: date, *, actor: str) -> None:
    """End the VAT period of ``network`` starting ``valid_from`` on ``valid_to`` (exclusive).

    Raises:
        NotFoundError: no such period.
        ValidationError: a date not after its start, or an issued invoice that took it past the new end.
    """
    row = conn.execute("SELECT id FROM vat_periods WHERE network = %s AND valid_from = %s",
                       (network, valid_from)).fetchone()
    if row is None:
        raise NotFoundError(f"pas de période de TVA du réseau {network} commençant le {fr.day(valid_from)}")
    errors = []
    if valid_to <= valid_from:
        errors.append(FieldError("valid_to", "doit suivre le début de la période"))
    used = vat_in_use_after(conn, network, valid_from, valid_to)
    if used is not None:
        errors.append(FieldError("valid_to", f"la facture {used[0]} (jusqu'au {fr.day(used[1])}) applique cette "
                                             "période (émettre d'abord un avoir)"))
    if errors:
        raise ValidationError(errors)
    with conn.transaction():
        conn.execute("UPDATE vat_periods SET valid_to = %s WHERE id = %s", (valid_to, row[0]))
        audit(conn, actor, "closed", "vat_period", int(row[0]), {"network": network, "valid_to": valid_to.isoformat()})
