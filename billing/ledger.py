"""A subscriber's account and the régie's aged balance.

The account (relevé de compte) lists, in date order, what was billed (invoices, debit), what was
credited (credit notes), paid (payments received by the régie, direct debits, monthly instalments
collected, or what the public accountant recorded against the titres), written off, and the direct
debits that came back (debit), with the running balance; its last balance is always
Σ invoices − Σ credit notes − Σ payments − Σ instalments − Σ write-offs + Σ returns [€]. A positive
balance is owed by the subscriber; a negative one is a credit the subscriber holds.

The aged balance (balance âgée) sorts what each subscriber still owes by how long ago it fell due
(not yet due, 1-30, 31-60, 61-90, more than 90 days), public and private debtors apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg

from billing.pes.retour import ORIGIN_LABELS, PAYMENT_ORIGINS
from billing.sepa_returns import REASONS

BUCKETS = ("not_due", "d1_30", "d31_60", "d61_90", "d90_plus")
BUCKET_LABELS = {"not_due": "non échu", "d1_30": "1 à 30 jours", "d31_60": "31 à 60 jours",
                 "d61_90": "61 à 90 jours", "d90_plus": "plus de 90 jours"}


@dataclass(frozen=True)
class AccountEntry:
    day: date
    label: str
    document: str | None  # invoice or credit note number
    debit: Decimal  # [€] billed to the subscriber
    credit: Decimal  # [€] credited, paid or written off
    balance: Decimal  # [€] running: owed by the subscriber when positive


def account_entries(conn: psycopg.Connection, subscriber_id: int) -> list[AccountEntry]:
    """The subscriber's account, oldest first, with the running balance."""
    rows = conn.execute(
        """SELECT issue_date, 0, CASE kind WHEN 'invoice' THEN 'Facture' ELSE 'Avoir' END || ' du '
                  || to_char(period_start, 'DD/MM/YYYY') || ' au ' || to_char(period_end - 1, 'DD/MM/YYYY'),
                  number, CASE kind WHEN 'invoice' THEN total_ttc ELSE 0 END,
                  CASE kind WHEN 'credit_note' THEN total_ttc ELSE 0 END, id
           FROM invoices WHERE subscriber_id = %(s)s AND status = 'issued'
           UNION ALL
           SELECT l.booked_on, 1, CASE WHEN p.invoice_id IS NULL THEN 'Paiement en avoir sur le compte'
                                       ELSE 'Paiement reçu' END, i.number, 0, p.amount, p.id
           FROM payments p JOIN bank_lines l ON l.id = p.line_id LEFT JOIN invoices i ON i.id = p.invoice_id
           WHERE p.subscriber_id = %(s)s
           UNION ALL
           SELECT e.day, 2, e.origin, i.number, 0, e.amount, e.id
           FROM titre_emargements e JOIN invoices i ON i.id = e.invoice_id WHERE i.subscriber_id = %(s)s
           UNION ALL
           SELECT x.collection_date, 3, 'Prélèvement SEPA', i.number, 0, s.amount, s.invoice_id
           FROM sepa_export_items s JOIN sepa_exports x ON x.id = s.export_id JOIN invoices i ON i.id = s.invoice_id
           WHERE i.subscriber_id = %(s)s
           UNION ALL
           SELECT x.collection_date, 5, 'Échéance de mensualisation n° ' || n.seq, NULL, 0, n.amount, n.seq
           FROM instalments n JOIN instalment_plans p ON p.id = n.plan_id
           JOIN instalment_exports x ON x.id = n.export_id WHERE p.subscriber_id = %(s)s
           UNION ALL
           SELECT r.returned_on, 6, r.reason, NULL, r.amount, 0, r.id
           FROM instalment_returns r JOIN instalment_plans p ON p.id = r.plan_id WHERE p.subscriber_id = %(s)s
           UNION ALL
           SELECT r.returned_on, 4, r.reason, i.number, r.amount, 0, r.id
           FROM sepa_returns r JOIN invoices i ON i.id = r.invoice_id WHERE i.subscriber_id = %(s)s
           ORDER BY 1, 2, 7""", {"s": subscriber_id}).fetchall()
    out, balance = [], Decimal(0)
    for day, source, label, document, debit, credit, _ in rows:
        if source in (4, 6):  # label: the return's reason code
            what = "Prélèvement" if source == 4 else "Échéance de mensualisation"
            label = f"{what} revenu impayé : {REASONS.get(label, 'motif bancaire')} ({label})"
        if source == 2:
            label = ("Encaissement du comptable public" if label in PAYMENT_ORIGINS
                     else f"Comptable public : {ORIGIN_LABELS.get(label, label)}")
        balance += Decimal(debit) - Decimal(credit)
        out.append(AccountEntry(day, label, document, Decimal(debit), Decimal(credit), balance))
    return out


def aged_balance(conn: psycopg.Connection, today: date) -> list[dict[str, Any]]:
    """Per subscriber owing something: code, name, public, each bucket's amount [€] and the total, the
    largest first."""
    rows = conn.execute(
        """WITH owed AS (SELECT subscriber_id, %(today)s - due_date AS late, due FROM invoice_dues)
           SELECT s.code, s.name, s.public_entity,
                  coalesce(sum(due) FILTER (WHERE late <= 0), 0),
                  coalesce(sum(due) FILTER (WHERE late BETWEEN 1 AND 30), 0),
                  coalesce(sum(due) FILTER (WHERE late BETWEEN 31 AND 60), 0),
                  coalesce(sum(due) FILTER (WHERE late BETWEEN 61 AND 90), 0),
                  coalesce(sum(due) FILTER (WHERE late > 90), 0), sum(due), s.id
           FROM owed JOIN subscribers s ON s.id = owed.subscriber_id WHERE due > 0
           GROUP BY s.id, s.code, s.name, s.public_entity ORDER BY sum(due) DESC, s.code""",
        {"today": today}).fetchall()
    return [{"code": r[0], "name": r[1], "public": r[2],
             **dict(zip(BUCKETS, (Decimal(v) for v in r[3:8]), strict=True)), "total": Decimal(r[8]), "id": r[9]}
            for r in rows]


def aged_totals(rows: list[dict[str, Any]]) -> dict[str, dict[str, Decimal]]:
    """The aged balance's totals per bucket for public debtors, private debtors and all [€]."""
    out = {group: dict.fromkeys((*BUCKETS, "total"), Decimal(0)) for group in ("public", "private", "all")}
    for row in rows:
        for group in ("public" if row["public"] else "private", "all"):
            for key in (*BUCKETS, "total"):
                out[group][key] += row[key]
    return out
