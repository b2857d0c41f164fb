"""Who occupies a delivery point: a contract ends (moving out), the next occupant's contract starts the next
day; a contract may cover several delivery points (a building fed by two substations: energies summed,
one subscribed power).

Ending a contract never takes away days an issued invoice billed (a credit note comes first). The final
invoice to the end date is made by the bill run of the end's month, restricted to that contract
(:func:`regie_chaleur.services.billing.final_invoice`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import psycopg

from billing import fr
from billing.errors import FieldError, NotFoundError, ValidationError
from billing.records import save_contract
from billing.runs import audit


def end_contract(conn: psycopg.Connection, contract_number: str, last_day: date, *, actor: str) -> int:
    """Close a contract on ``last_day`` (its last day of supply); returns its id.

    Raises:
        NotFoundError: unknown contract.
        ValidationError: a day before its start, or an issued invoice billing days after it (named).
    """
    row = conn.execute("SELECT id, start_date, end_date FROM contracts WHERE number = %s",
                       (contract_number,)).fetchone()
    if row is None:
        raise NotFoundError(f"contrat {contract_number} inconnu")
    errors = []
    if last_day < row[1]:
        errors.append(FieldError("last_day", f"avant le début du contrat ({fr.day(row[1])})"))
    billed = conn.execute("SELECT number, period_end - 1 FROM invoices WHERE contract_id = %s AND status = 'issued' "
                          "AND kind = 'invoice' AND period_end > %s AND NOT EXISTS (SELECT 1 FROM billed_months b "
                          "WHERE b.invoice_id = invoices.id AND b.released_by IS NOT NULL) "
                          "ORDER BY period_end DESC LIMIT 1", (row[0], last_day + timedelta(days=1))).fetchone()
    if billed is not None:
        errors.append(FieldError("last_day", f"la facture {billed[0]} couvre jusqu'au {fr.day(billed[1])} : "
                                             "émettre d'abord un avoir"))
    if errors:
        raise ValidationError(errors)
    with conn.transaction():
        conn.execute("UPDATE contracts SET end_date = %s WHERE id = %s", (last_day, row[0]))
        audit(conn, actor, "ended", "contract", int(row[0]), {"last_day": last_day.isoformat()})
    return int(row[0])


def change_occupant(conn: psycopg.Connection, delivery_point: str, last_day: date, new_contract: Mapping[str, Any],
                    *, actor: str) -> tuple[int, int]:
    """The occupant of ``delivery_point`` leaves on ``last_day``; the next one's contract (the fields of
    :func:`billing.records.save_contract`, its start the next day) takes over. One transaction; returns
    (the ended contract's id, the new contract's id).

    Raises:
        ValidationError: no contract in force on that day, or any problem of either contract.
    """
    current = conn.execute(
        "SELECT c.number FROM contracts c JOIN delivery_points dp ON dp.id = c.delivery_point_id "
        "WHERE dp.code = %s AND c.start_date <= %s AND (c.end_date IS NULL OR c.end_date >= %s)",
        (delivery_point, last_day, last_day)).fetchone()
    if current is None:
        raise ValidationError([FieldError("delivery_point", f"aucun contrat en cours le {fr.day(last_day)} sur le "
                                                            f"point de livraison {delivery_point}")])
    start = last_day + timedelta(days=1)
    with conn.transaction():
        ended = end_contract(conn, current[0], last_day, actor=actor)
        created = save_contract(conn, {**new_contract, "delivery_point": delivery_point,
                                       "start_date": start.isoformat()}, actor=actor)
        audit(conn, actor, "occupant_changed", "delivery_point", None,
              {"delivery_point": delivery_point, "left": current[0], "last_day": last_day.isoformat(),
               "new_contract": new_contract.get("number")})
    return ended, created


def add_delivery_point(conn: psycopg.Connection, contract_number: str, delivery_point: str, *, actor: str) -> None:
    """Make ``contract_number`` cover ``delivery_point`` too (its energy is added to the contract's).

    Raises:
        ValidationError: unknown contract or point, or a point already under another contract then.
    """
    contract = conn.execute("SELECT id, start_date, end_date, delivery_point_id FROM contracts WHERE number = %s",
                            (contract_number,)).fetchone()
    point = conn.execute("SELECT id FROM delivery_points WHERE code = %s", (delivery_point,)).fetchone()
    errors = []
    if contract is None:
        errors.append(FieldError("contract", f"contrat {contract_number} inconnu"))
    if point is None:
        errors.append(FieldError("delivery_point", f"point de livraison {delivery_point} inconnu"))
    if contract is not None and point is not None:
        if point[0] == contract[3]:
            errors.append(FieldError("delivery_point", "c'est déjà le point principal du contrat"))
        other = conn.execute(
            "SELECT c.number FROM contracts c LEFT JOIN contract_delivery_points x ON x.contract_id = c.id "
            "WHERE (c.delivery_point_id = %(p)s OR x.delivery_point_id = %(p)s) AND c.id <> %(c)s "
            "AND c.start_date <= coalesce(%(end)s, 'infinity'::date) AND coalesce(c.end_date, 'infinity'::date) "
            ">= %(start)s LIMIT 1", {"p": point[0], "c": contract[0], "start": contract[1], "end": contract[2]}
        ).fetchone()
        if other is not None:
            errors.append(FieldError("delivery_point", f"le point {delivery_point} relève déjà du contrat {other[0]}"))
    if errors:
        raise ValidationError(errors)
    assert contract is not None and point is not None  # noqa: S101
    with conn.transaction():
        conn.execute("INSERT INTO contract_delivery_points (contract_id, delivery_point_id) VALUES (%s, %s) "
                     "ON CONFLICT DO NOTHING", (contract[0], point[0]))
        audit(conn, actor, "delivery_point_added", "contract", int(contract[0]), {"delivery_point": delivery_point})
