"""Letters to subscribers from the database: the reminder of an unpaid invoice and the account
statement, as PDF, and the reminders sent by e-mail with their letter attached.

Sending goes through a ``Mailer`` the application provides (its SMTP settings): billing only says who
gets which message. A reminder is recorded once per level (see :mod:`billing.reminders`); the address it
was e-mailed to, if any, is kept with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row

from billing import fr
from billing.documents.letters import account_statement, regularisation_letter, reminder_letter, render_letter
from billing.errors import NotFoundError, StateError
from billing.instalments import collected_amount
from billing.ledger import account_entries
from billing.reminders import LEVEL_LABELS, overdue_invoices, record_reminders
from billing.retours import account_summary
from billing.store import read_issuer


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str
    attachment_name: str
    attachment: bytes  # PDF


Mailer = Callable[[Mail], None]  # raises OSError when the message could not be handed over


def subscriber(conn: psycopg.Connection, subscriber_id: int) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT * FROM subscribers WHERE id = %s", (subscriber_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"abonné {subscriber_id} inconnu")
    return row


def statement_pdf(conn: psycopg.Connection, subscriber_id: int, today: date) -> bytes:
    """The subscriber's account statement (relevé de compte) as PDF."""
    who = subscriber(conn, subscriber_id)
    return render_letter(account_statement(read_issuer(conn), who, account_entries(conn, subscriber_id),
                                           account_summary(conn, subscriber_id, today), today))


def regularisation_pdf(conn: psycopg.Connection, plan_id: int, today: date) -> bytes:
    """The yearly regularisation of a plan of monthly instalments, once regularised.

    Raises:
        NotFoundError: no such plan. StateError: not regularised yet.
    """
    plan = conn.execute("SELECT subscriber_id, period_start, period_end, status FROM instalment_plans WHERE id = %s",
                        (plan_id,)).fetchone()
    if plan is None:
        raise NotFoundError(f"plan de mensualisation {plan_id} inconnu")
    if plan[3] != "regularised":
        raise StateError(f"plan de mensualisation {plan_id} pas encore régularisé")
    invoices = [list(r) for r in conn.execute(
        """SELECT i.number, i.period_start, i.period_end, d.due + coalesce(a.amount, 0), coalesce(a.amount, 0)
           FROM invoices i JOIN invoice_dues d ON d.invoice_id = i.id
           LEFT JOIN instalment_allocations a ON a.invoice_id = i.id AND a.plan_id = %(p)s
           WHERE i.subscriber_id = %(s)s AND i.period_start >= %(a)s AND i.period_start < %(b)s
             AND (a.amount IS NOT NULL OR d.due > 0) ORDER BY i.period_start, i.number""",
        {"p": plan_id, "s": plan[0], "a": plan[1], "b": plan[2]}).fetchall()]
    facts = {"period_start": plan[1], "period_end": plan[2], "collected": collected_amount(conn, plan_id),
             "applied": sum((Decimal(r[4]) for r in invoices), Decimal(0))}
    return render_letter(regularisation_letter(read_issuer(conn), subscriber(conn, plan[0]), facts, invoices, today))


def reminder_pdf(conn: psycopg.Connection, invoice_number: str, today: date) -> tuple[bytes, int]:
    """The reminder letter of an overdue invoice and its level: the reminder now due, else the last one
    sent.

    Raises:
        StateError: the invoice owes nothing past its due date.
    """
    found = {o.number: o for o in overdue_invoices(conn, today)}.get(invoice_number)
    if found is None:
        raise StateError(f"la facture {invoice_number} n'a rien d'impayé après son échéance")
    level = min(found.next_level or found.level_sent or 1, 2)  # level 3 hands the titre to the accountant
    return _letter(conn, found, level, today), level


def send_reminders(conn: psycopg.Connection, invoice_numbers: list[str], *, actor: str, today: date,
                   mailer: Mailer | None) -> dict[str, list[str]]:
    """Record the reminder now due for each invoice and e-mail its letter to subscribers with an address
    when a mailer is configured. Returns the invoice numbers ``emailed``, ``to_post`` (no address or no
    mailer: the letter is to be printed), ``failed`` (the mail server refused; recorded anyway, the
    letter is to be posted) and ``to_accountant`` (past the last reminder: handed to the public
    accountant, no letter from the régie).

    Raises:
        StateError: an invoice has no reminder due; nothing is recorded.
    """
    due = {o.number: o for o in overdue_invoices(conn, today)}
    record_reminders(conn, invoice_numbers, actor=actor, today=today)
    out: dict[str, list[str]] = {"emailed": [], "to_post": [], "failed": [], "to_accountant": []}
    for number in invoice_numbers:
        overdue = due[number]
        level = overdue.next_level or 1
        if level == 3:
            out["to_accountant"].append(number)
            continue
        if mailer is None or not overdue.email:
            out["to_post"].append(number)
            continue
        pdf = _letter(conn, overdue, level, today)
        try:
            mailer(Mail(overdue.email, f"{LEVEL_LABELS[level].capitalize()} – facture {number}",
                        _body(overdue.subscriber_name, number, overdue.due, overdue.due_date),
                        f"relance-{number}.pdf", pdf))
        except OSError:
            out["failed"].append(number)
            continue
        conn.execute("UPDATE reminders SET emailed_to = %s WHERE invoice_id = %s AND level = %s",
                     (overdue.email, overdue.invoice_id, level))
        out["emailed"].append(number)
    return out


def _letter(conn: psycopg.Connection, overdue: Any, level: int, today: date) -> bytes:
    with conn.cursor(row_factory=dict_row) as cur:
        invoice = cur.execute("SELECT number, issue_date, due_date, total_ttc, period_start, period_end, subscriber_id "
                              "FROM invoices WHERE id = %s", (overdue.invoice_id,)).fetchone()
    assert invoice is not None  # noqa: S101
    invoice |= {"due": overdue.due, "interest": overdue.interest, "indemnity": overdue.indemnity}
    return render_letter(reminder_letter(read_issuer(conn), subscriber(conn, invoice["subscriber_id"]), invoice,
                                         level, today))


def _body(name: str, number: str, due: Decimal, due_date: date) -> str:
    return (f"Bonjour,\n\nSauf erreur de notre part, la facture {number} de {name}, échue le {fr.day(due_date)}, "
            f"n'est pas entièrement réglée : il reste {fr.eur(due)} à payer.\n\nVous trouverez en pièce jointe le "
            "courrier de rappel avec les modalités de paiement. Si vous avez réglé cette somme entre-temps, ne tenez "
            "pas compte de ce message.\n\nLe service facturation\n")
