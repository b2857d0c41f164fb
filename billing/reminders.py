"""Invoices past their due date: amicable reminders on a schedule, late-payment interest and the fixed
indemnity for professional debtors, and the list handed to the public accountant for enforcement.

- Schedule (``billing_policy.reminder_days``, 15, 30 and 45 days after the due date by default): a first
  and a second amicable reminder, then the invoice is listed for the accountant (who alone enforces a
  titre). A reminder is recorded once per level; an invoice paid stops the schedule (it leaves the list),
  and so does a running plan of monthly instalments (its invoices are paid at the yearly regularisation).
- Professional debtors (Code de commerce L.441-10: a company, not a public body nor a person): interest
  from the day after the due date, ``due × rate × days / 365`` at ``billing_policy.late_interest_pct``
  (at least three times the legal rate; by default the ECB's rate plus 10 points), and the 40 € fixed
  indemnity for recovery costs per invoice. Both are computed and shown; billing them is left to staff.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import psycopg

from billing.errors import StateError
from billing.runs import audit

INDEMNITY = Decimal("40.00")  # [€] C. com. D.441-5
LEVEL_LABELS = {1: "première relance amiable", 2: "seconde relance amiable", 3: "transmise au comptable public"}


@dataclass(frozen=True)
class Overdue:
    invoice_id: int
    number: str
    subscriber: str
    subscriber_name: str
    email: str | None
    due_date: date
    days_late: int
    due: Decimal  # [€] still owed
    professional: bool
    interest: Decimal  # [€] L.441-10, professionals only
    indemnity: Decimal  # [€]
    level_sent: int  # highest reminder level recorded (0: none)
    next_level: int | None  # the reminder now due, if any


def overdue_invoices(conn: psycopg.Connection, today: date) -> list[Overdue]:
    """Issued invoices still owing something after their due date, the latest due first."""
    policy = conn.execute("SELECT late_interest_pct, reminder_days FROM billing_policy").fetchone()
    rate, days = (Decimal(policy[0]), list(policy[1])) if policy else (Decimal("12.15"), [15, 30, 45])
    rows = conn.execute(
        """SELECT d.invoice_id, d.number, s.code, s.name, s.email, d.due_date, d.due,
                  s.siren IS NOT NULL AND NOT s.public_entity,
                  coalesce((SELECT max(level) FROM reminders r WHERE r.invoice_id = d.invoice_id), 0)
           FROM invoice_dues d JOIN subscribers s ON s.id = d.subscriber_id
           WHERE d.due > 0 AND d.due_date < %s
             AND NOT EXISTS (SELECT 1 FROM instalment_plans p JOIN invoices i ON i.id = d.invoice_id
                             WHERE p.subscriber_id = d.subscriber_id AND p.status = 'active'
                             AND i.period_start >= p.period_start AND i.period_start < p.period_end)
           ORDER BY d.due_date DESC, d.number""", (today,)).fetchall()
    out = []
    for invoice_id, number, code, name, email, due_date, due, professional, level in rows:
        late = (today - due_date).days
        interest = ((due * rate * late / Decimal(36500)).quantize(Decimal("0.01"), ROUND_HALF_UP)
                    if professional else Decimal("0.00"))
        reached = sum(1 for d in days if late >= d)
        out.append(Overdue(int(invoice_id), number, code, name, email, due_date, late, Decimal(due), professional,
                           interest, INDEMNITY if professional else Decimal("0.00"), int(level),
                           reached if reached > level else None))
    return out


def record_reminders(conn: psycopg.Connection, invoice_numbers: list[str], *, actor: str, today: date) -> int:
    """Record that the reminder now due was sent for each of these invoices; returns how many.

    Raises:
        StateError: an invoice has no reminder due (paid, not late enough, or already reminded).
    """
    due = {o.number: o for o in overdue_invoices(conn, today)}
    refused = [n for n in invoice_numbers if n not in due or due[n].next_level is None]
    if refused:
        raise StateError(f"aucune relance à envoyer pour {', '.join(refused[:5])}"
                         f"{'…' if len(refused) > 5 else ''} (réglée, pas encore assez en retard, ou déjà relancée)")
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany("INSERT INTO reminders (invoice_id, level, sent_on, sent_by) VALUES (%s, %s, %s, %s) "
                        "ON CONFLICT DO NOTHING",
                        [(due[n].invoice_id, due[n].next_level, today, actor) for n in invoice_numbers])
        audit(conn, actor, "reminders_recorded", "invoice", None, {"invoices": invoice_numbers})
    return len(invoice_numbers)


def summary(rows: list[Overdue]) -> dict[str, Any]:
    return {"count": len(rows), "due": sum((r.due for r in rows), Decimal(0)),
            "interest": sum((r.interest for r in rows), Decimal(0)),
            "indemnities": sum((r.indemnity for r in rows), Decimal(0)),
            "to_send": {level: sum(1 for r in rows if r.next_level == level) for level in (1, 2, 3)}}
