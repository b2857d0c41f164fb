"""Monthly instalments (mensualisation): a subscriber pays its year by equal monthly SEPA debits, and a
yearly regularisation settles the year's invoices with what was collected.

- The plan is the subscriber's choice, recorded with the SEPA mandate it is collected on. Its expected
  yearly amount [€] is given, or else the total of the subscriber's issued invoices of the twelve months
  before the plan (less their credit notes). It is split into ``months`` equal debits rounded down to the
  cent, the last one taking the remainder, so that the schedule adds up to the expected amount exactly.
- While a plan runs, the invoices of its period are neither debited one by one nor reminded: they are paid
  by the instalments.
- Instalments due are collected by a pain.008 file per collection date (FRST on a mandate's first
  collection, RCUR after); asking the same date again returns the same file. An instalment whose debit
  comes back (:mod:`billing.sepa_returns`) counts as not collected.
- The regularisation, once the plan's period has ended, applies what was collected to the invoices of
  the period, oldest first: what the invoices still owe afterwards is the balance to pay; what was
  collected beyond them is a credit for the subscriber, to refund.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, Decimal
from typing import Any

import psycopg

from billing import fr, identifiers
from billing.errors import BillingError, FieldError, NotFoundError, StateError, ValidationError
from billing.exports.sepa import build_pain008
from billing.periods import add_months
from billing.runs import audit

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Regularisation:
    plan_id: int
    invoiced: Decimal  # [€] what the period's invoices owed before the instalments were applied
    collected: Decimal  # [€] instalments collected
    applied: Decimal  # [€] of which applied to the invoices
    balance_due: Decimal  # [€] the invoices still owe
    to_refund: Decimal  # [€] collected beyond the invoices
    invoices: list[tuple[str, Decimal, Decimal]]  # (number, owed before, applied)


def schedule(expected: Decimal, months: int, first_due: date) -> list[tuple[date, Decimal]]:
    """``months`` monthly debits from ``first_due`` adding up to ``expected`` [€] exactly."""
    base = (expected / months).quantize(CENT, ROUND_DOWN)
    amounts = [base] * (months - 1) + [expected - base * (months - 1)]
    return [(add_months(first_due, k).replace(day=first_due.day), amount) for k, amount in enumerate(amounts)]


def expected_amount(conn: psycopg.Connection, subscriber_id: int, period_start: date) -> Decimal:
    """What the subscriber's issued invoices of the twelve months before ``period_start`` came to, less
    their credit notes [€]."""
    row = conn.execute(
        """SELECT coalesce(sum(CASE kind WHEN 'invoice' THEN total_ttc ELSE -total_ttc END), 0) FROM invoices
           WHERE subscriber_id = %s AND status = 'issued' AND period_start >= %s AND period_start < %s""",
        (subscriber_id, add_months(period_start, -12), period_start)).fetchone()
    return Decimal(row[0]) if row else Decimal(0)


def create_plan(conn: psycopg.Connection, subscriber_code: str, *, period_start: date, months: int = 12,
                debit_day: int = 5, expected: Decimal | None = None, actor: str, today: date) -> int:
    """Record the subscriber's choice of monthly instalments on its active SEPA mandate; returns the plan.

    Raises:
        ValidationError: a setting is out of range, or no amount can be proposed (every problem named).
        StateError: no active mandate, or a plan already runs.
    """
    errors = []
    if period_start.day != 1:
        errors.append(FieldError("period_start", "la mensualisation commence un premier du mois"))
    if not 2 <= months <= 12:
        errors.append(FieldError("months", "de 2 à 12 échéances"))
    if not 1 <= debit_day <= 28:
        errors.append(FieldError("debit_day", "jour de prélèvement du 1 au 28"))
    if expected is not None and expected <= 0:
        errors.append(FieldError("expected", "le montant annuel prévu doit être positif"))
    found = conn.execute("SELECT id FROM subscribers WHERE code = %s", (subscriber_code,)).fetchone()
    if found is None:
        raise NotFoundError(f"abonné {subscriber_code} inconnu")
    subscriber_id = int(found[0])
    basis = "montant indiqué"
    if expected is None and not errors:
        expected = expected_amount(conn, subscriber_id, period_start).quantize(CENT)
        basis = "factures des douze mois précédents"
        if expected <= 0:
            errors.append(FieldError("expected", "aucune facture sur les douze mois précédents : indiquez le "
                                                 "montant annuel prévu"))
    if errors:
        raise ValidationError(errors, f"mensualisation de {subscriber_code}")
    assert expected is not None  # noqa: S101
    mandate = conn.execute("SELECT id FROM sepa_mandates WHERE subscriber_id = %s AND status = 'active' "
                           "ORDER BY signed_on DESC LIMIT 1", (subscriber_id,)).fetchone()
    if mandate is None:
        raise StateError(f"{subscriber_code} n'a pas de mandat SEPA actif : la mensualisation se prélève")
    if conn.execute("SELECT 1 FROM instalment_plans WHERE subscriber_id = %s AND status = 'active'",
                    (subscriber_id,)).fetchone():
        raise StateError(f"{subscriber_code} est déjà mensualisé")
    first_due = date(period_start.year, period_start.month, debit_day)
    with conn.transaction(), conn.cursor() as cur:
        row = cur.execute(
            "INSERT INTO instalment_plans (subscriber_id, mandate_id, period_start, period_end, expected_amount, "
            "basis, debit_day, chosen_on, created_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (subscriber_id, mandate[0], period_start, add_months(period_start, months), expected, basis, debit_day,
             today, actor)).fetchone()
        assert row is not None  # noqa: S101
        cur.executemany("INSERT INTO instalments (plan_id, seq, due_on, amount) VALUES (%s, %s, %s, %s)",
                        [(row[0], k, due, amount) for k, (due, amount)
                         in enumerate(schedule(expected, months, first_due), start=1)])
        audit(conn, actor, "instalments_chosen", "subscriber", subscriber_id,
              {"plan": row[0], "expected": str(expected), "months": months})
    return int(row[0])


def cancel_plan(conn: psycopg.Connection, plan_id: int, *, actor: str) -> None:
    """Stop a plan: instalments not yet collected are dropped; what was collected stays to regularise."""
    with conn.transaction():
        done = conn.execute("UPDATE instalment_plans SET status = 'cancelled' WHERE id = %s AND status = 'active' "
                            "RETURNING subscriber_id", (plan_id,)).fetchone()
        if done is None:
            raise StateError(f"plan de mensualisation {plan_id} : aucun plan en cours")
        conn.execute("DELETE FROM instalments WHERE plan_id = %s AND export_id IS NULL", (plan_id,))
        audit(conn, actor, "instalments_cancelled", "subscriber", done[0], {"plan": plan_id})


def export_instalments(conn: psycopg.Connection, collection_date: date, *, actor: str,
                       today: date) -> tuple[bytes, int, Decimal]:
    """The pain.008 file collecting every instalment of a running plan due on or before
    ``collection_date`` and not yet collected: (content, payments, total [€]). The same date asked again
    returns the stored file.

    Raises:
        StateError: the date is past, or nothing is due.
        ValidationError: a mandate, IBAN or BIC is invalid (every one named; nothing stored).
    """
    stored = conn.execute("SELECT content, payments, total FROM instalment_exports WHERE collection_date = %s",
                          (collection_date,)).fetchone()
    if stored is not None:
        return bytes(stored[0]), int(stored[1]), Decimal(stored[2])
    if collection_date < today:
        raise StateError(f"date de prélèvement {fr.day(collection_date)} passée")
    issuer = conn.execute("SELECT name, iban, bic, sepa_creditor_id FROM billing_issuer").fetchone()
    if issuer is None:
        raise BillingError("l'émetteur des factures n'est pas configuré")
    rows = conn.execute(
        """SELECT n.plan_id, n.seq, n.amount, n.due_on, s.name, s.code, m.id, m.reference, m.signed_on, m.iban,
                  m.bic, mandate_collected(m.id)
           FROM instalments n JOIN instalment_plans p ON p.id = n.plan_id AND p.status = 'active'
           JOIN subscribers s ON s.id = p.subscriber_id JOIN sepa_mandates m ON m.id = p.mandate_id
           WHERE n.export_id IS NULL AND n.due_on <= %s AND m.status = 'active' ORDER BY s.code, n.seq""",
        (collection_date,)).fetchall()
    if not rows:
        raise StateError(f"aucune échéance de mensualisation à prélever au {fr.day(collection_date)}")
    payments, errors, seen = [], [], set()
    for plan_id, seq, amount, due_on, name, code, mandate_id, reference, signed_on, iban, bic, collected in rows:
        try:
            iban = identifiers.normalise_iban(iban)
            bic = (identifiers.normalise_bic(bic) if bic else identifiers.bic_for_iban(iban)) or ""
            reference = identifiers.normalise_mandate_reference(reference)
        except ValueError as exc:
            errors.append(FieldError(f"abonné {code}", str(exc)))
            continue
        kind = "RCUR" if collected or mandate_id in seen else "FRST"
        seen.add(mandate_id)
        payments.append(((plan_id, seq, kind), amount, {
            "name": name[:70], "IBAN": iban, "BIC": bic, "amount": int(amount * 100), "type": kind,
            "collection_date": collection_date, "mandate_id": reference, "mandate_date": signed_on,
            "endtoend_id": f"ECH-{plan_id}-{seq}",
            "description": f"Mensualisation chauffage urbain : échéance {seq} du {fr.day(due_on)}"[:140]}))
    if errors:
        raise ValidationError(errors, f"échéances du {fr.day(collection_date)}")
    content, message_id = build_pain008(tuple(issuer), [p[2] for p in payments])
    total = sum((p[1] for p in payments), Decimal(0))
    with conn.transaction(), conn.cursor() as cur:
        row = cur.execute("INSERT INTO instalment_exports (collection_date, message_id, content, payments, total, "
                          "created_by) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                          (collection_date, message_id or hashlib.sha256(content).hexdigest()[:35], content,
                           len(payments), total, actor)).fetchone()
        assert row is not None  # noqa: S101
        cur.executemany("UPDATE instalments SET export_id = %s, sequence_type = %s WHERE plan_id = %s AND seq = %s",
                        [(row[0], key[2], key[0], key[1]) for key, _, _ in payments])
        audit(conn, actor, "instalments_exported", "instalment_export", row[0],
              {"collection_date": collection_date.isoformat(), "payments": len(payments), "total": str(total)})
    return content, len(payments), total


def regularise(conn: psycopg.Connection, plan_id: int, *, actor: str, today: date) -> Regularisation:
    """Apply what the plan collected to the invoices of its period, oldest first.

    Raises:
        StateError: the plan is unknown, already regularised, or its period has not ended.
    """
    plan = conn.execute("SELECT subscriber_id, period_start, period_end, status FROM instalment_plans WHERE id = %s",
                        (plan_id,)).fetchone()
    if plan is None:
        raise NotFoundError(f"plan de mensualisation {plan_id} inconnu")
    subscriber_id, start, end, status = plan
    if status == "regularised":
        raise StateError(f"plan de mensualisation {plan_id} déjà régularisé")
    if today < end:
        raise StateError(f"la régularisation se fait après la fin de la période, le {fr.day(end)} au plus tôt")
    collected = collected_amount(conn, plan_id)
    dues = conn.execute(
        """SELECT d.invoice_id, d.number, d.due FROM invoice_dues d JOIN invoices i ON i.id = d.invoice_id
           WHERE d.subscriber_id = %s AND i.period_start >= %s AND i.period_start < %s AND d.due > 0
           ORDER BY i.period_start, d.number""", (subscriber_id, start, end)).fetchall()
    left, applied = collected, []
    for invoice_id, number, due in dues:
        part = min(left, Decimal(due))
        applied.append((invoice_id, number, Decimal(due), part))
        left -= part
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany("INSERT INTO instalment_allocations (plan_id, invoice_id, amount) VALUES (%s, %s, %s)",
                        [(plan_id, i, part) for i, _, _, part in applied if part > 0])
        cur.execute("UPDATE instalment_plans SET status = 'regularised', regularised_on = %s, regularised_by = %s "
                    "WHERE id = %s", (today, actor, plan_id))
        audit(conn, actor, "instalments_regularised", "subscriber", subscriber_id,
              {"plan": plan_id, "collected": str(collected), "refund": str(left)})
    invoiced = sum((due for _, _, due, _ in applied), Decimal(0))
    return Regularisation(plan_id, invoiced, collected, collected - left, invoiced - (collected - left), left,
                          [(number, due, part) for _, number, due, part in applied])


def collected_amount(conn: psycopg.Connection, plan_id: int) -> Decimal:
    """What the plan's instalments collected [€]: those in a pain.008 file, less those that came back."""
    row = conn.execute("SELECT coalesce(sum(amount), 0) FROM instalments n WHERE plan_id = %s "
                       "AND export_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM instalment_returns r "
                       "WHERE r.plan_id = n.plan_id AND r.seq = n.seq)", (plan_id,)).fetchone()
    return Decimal(row[0]) if row else Decimal(0)


def plans(conn: psycopg.Connection, subscriber_id: int | None = None) -> list[dict[str, Any]]:
    """Plans with their schedule, the newest first (one subscriber's, or all)."""
    rows = conn.execute(
        """SELECT p.id, s.code, s.name, p.period_start, p.period_end, p.expected_amount, p.basis, p.debit_day,
                  p.status, m.reference, p.chosen_on, p.regularised_on, p.subscriber_id
           FROM instalment_plans p JOIN subscribers s ON s.id = p.subscriber_id
           JOIN sepa_mandates m ON m.id = p.mandate_id
           WHERE %(s)s::bigint IS NULL OR p.subscriber_id = %(s)s ORDER BY p.period_start DESC, s.code""",
        {"s": subscriber_id}).fetchall()
    keys = ("id", "code", "name", "period_start", "period_end", "expected", "basis", "debit_day", "status", "mandate",
            "chosen_on", "regularised_on", "subscriber_id")
    out = [dict(zip(keys, r, strict=True)) for r in rows]
    for plan in out:
        plan["instalments"] = conn.execute(
            "SELECT seq, due_on, amount, export_id IS NOT NULL, sequence_type, (SELECT r.reason "
            "FROM instalment_returns r WHERE r.plan_id = n.plan_id AND r.seq = n.seq LIMIT 1) "
            "FROM instalments n WHERE plan_id = %s ORDER BY seq",
            (plan["id"],)).fetchall()
        plan["collected"] = sum((Decimal(r[2]) for r in plan["instalments"] if r[3] and not r[5]), Decimal(0))
        plan["returned"] = [r[0] for r in plan["instalments"] if r[5]]
    return out
