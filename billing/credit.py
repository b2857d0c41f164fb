"""Credit notes (avoirs): the only way to cancel or correct an issued invoice (CGI art. 242 nonies A).

A credit note cites the invoice it corrects and is numbered in its own series (``AVO-YYYY-NNNNNN``).
Its amounts are positive, as a credit (EN 16931 document type 381).

- **Full**: every line's remaining amount is credited; the invoice's months are released, so the period
  can be billed again: with ``reissue`` a corrected invoice is computed from the current data (say, a
  corrected reading) and issued in the same transaction, after the credit note.
- **Partial**: chosen lines, each up to what remains of it (a goodwill gesture, a price error on one
  term); the invoice's months stay billed.

The VAT of a credit note is computed per rate on its own total, like any document.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.types.json import Jsonb

from billing import fr, store
from billing.compute import compute_totals
from billing.errors import BillingError, ContractException, NotFoundError, StateError
from billing.inputs import DegreeDays, RunInputs
from billing.issuing import issue_drafts
from billing.model import Line, Period
from billing.numbering import take_numbers
from billing.runs import audit, read_parties, write_drafts

PARIS = ZoneInfo("Europe/Paris")
ONE = Decimal(1)


@dataclass(frozen=True)
class CreditResult:
    credit_note_id: int
    credit_note_number: str
    total_ttc: Decimal  # [€] credited, VAT included
    full: bool
    corrected_invoice_number: str | None


def credit_invoice(conn: psycopg.Connection, number: str, *, actor: str, reason: str,
                   lines: Mapping[int, Decimal] | None = None, reissue: bool = False,
                   degree_days: DegreeDays | None = None, now: datetime | None = None) -> CreditResult:
    """Issue a credit note for invoice ``number`` (``lines``: line number → amount excl. VAT to credit;
    None: everything that remains), then the corrected invoice when ``reissue``.

    Raises:
        NotFoundError: no such invoice.
        StateError: not an issued invoice, nothing left to credit, a partial amount too large, or a
            reissue asked with a partial credit.
        BillingError: the corrected invoice cannot be computed (nothing was issued then).
    """
    if not reason.strip():
        raise StateError("un avoir doit indiquer son motif")
    if reissue and lines is not None:
        raise StateError("la facture rectificative suit un avoir total, pas un avoir partiel")
    now = now or datetime.now(UTC)
    with conn.transaction(), conn.cursor() as cur:
        original = _lock_invoice(cur, number)
        credit_lines = _credit_lines(cur, original, lines)
        totals = compute_totals(credit_lines)
        today = now.astimezone(PARIS).date()
        (credit_number,) = take_numbers(cur, "credit_note", today.year, 1)
        row = cur.execute(  # a draft first: an issued document takes no more lines
            """INSERT INTO invoices (kind, status, contract_id, subscriber_id, period_start, period_end, total_ht,
                   total_vat, total_ttc, corrects_invoice_id, reason, seller, buyer, payment, readings)
               VALUES ('credit_note', 'draft', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
            (original["contract_id"], original["subscriber_id"], original["period_start"], original["period_end"],
             totals.total_ht, totals.total_vat, totals.total_ttc, original["id"], reason.strip(),
             Jsonb(original["seller"]), Jsonb(original["buyer"]), Jsonb(original["payment"]),
             Jsonb(original["readings"]))).fetchone()
        assert row is not None  # noqa: S101
        credit_id = int(row[0])
        cur.executemany(
            """INSERT INTO invoice_lines (invoice_id, line_no, kind, label, quantity, unit, unit_price, prorata,
                   prorata_label, amount_ht, vat_rate, period_start, period_end, details)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            [(credit_id, no, li.kind, li.label, li.quantity, li.unit, li.unit_price, li.prorata, li.prorata_label,
              li.amount, li.vat_rate, li.period.start, li.period.end, Jsonb(li.details))
             for no, li in enumerate(credit_lines, start=1)])
        cur.executemany("INSERT INTO invoice_vat (invoice_id, rate, base, vat) VALUES (%s, %s, %s, %s)",
                        [(credit_id, v.rate, v.base, v.vat) for v in totals.by_rate])
        cur.execute("UPDATE invoices SET status = 'issued', number = %s, issue_date = %s, due_date = %s, "
                    "issued_at = %s, issued_by = %s WHERE id = %s",
                    (credit_number, today, today, now, actor, credit_id))
        full = _entirely_credited(cur, original["id"])
        if full:
            cur.execute("UPDATE billed_months SET released_by = %s WHERE invoice_id = %s AND released_by IS NULL",
                        (credit_id, original["id"]))
        audit(conn, actor, "credited", "invoice", original["id"],
              {"credit_note": credit_number, "total_ttc": str(totals.total_ttc), "full": full, "reason": reason})
        audit(conn, actor, "issued", "invoice", credit_id, {"number": credit_number, "corrects": number})
        corrected = None
        if reissue:
            corrected = _reissue(conn, cur, original, actor, degree_days, now)
    return CreditResult(credit_id, credit_number, totals.total_ttc, full, corrected)


def _lock_invoice(cur: psycopg.Cursor, number: str) -> dict[str, Any]:
    found = cur.execute(
        """SELECT id, number, kind, status, contract_id, subscriber_id, period_start, period_end, seller, buyer,
                  payment, readings FROM invoices WHERE number = %s FOR UPDATE""", (number,))
    row = found.fetchone()
    if row is None:
        raise NotFoundError(f"facture {number} inconnue")
    invoice = dict(zip([c.name for c in found.description or []], row, strict=True))
    if invoice["kind"] != "invoice" or invoice["status"] != "issued":
        raise StateError(f"{number} n'est pas une facture émise : seul un avoir sur une facture émise est possible")
    return invoice


def _credit_lines(cur: psycopg.Cursor, original: dict[str, Any], wanted: Mapping[int, Decimal] | None) -> list[Line]:
    rows = cur.execute(
        """SELECT l.line_no, l.kind, l.label, l.quantity, l.unit, l.unit_price, l.prorata, l.prorata_label,
                  l.amount_ht, l.vat_rate, l.period_start, l.period_end,
                  coalesce((SELECT sum(c.amount_ht) FROM invoice_lines c JOIN invoices ci ON ci.id = c.invoice_id
                            WHERE ci.corrects_invoice_id = l.invoice_id
                              AND (c.details ->> 'corrects_line')::int = l.line_no), 0)
           FROM invoice_lines l WHERE l.invoice_id = %s ORDER BY l.line_no""", (original["id"],)).fetchall()
    number = original["number"]
    out: list[Line] = []
    known = {r[0] for r in rows}
    for line_no in (wanted or {}):
        if line_no not in known:
            raise StateError(f"la facture n'a pas de ligne {line_no}")
    for (no, kind, label, qty, unit, price, prorata, prorata_label, amount, rate, start, end, credited) in rows:
        remaining = amount - credited
        if wanted is None:
            if remaining == 0:
                continue
            whole = credited == 0
            out.append(Line(kind, label if whole else f"Solde de : {label}", qty if whole else ONE,
                            unit if whole else "forfait", price if whole else remaining, prorata if whole else ONE,
                            prorata_label if whole else "", remaining, rate, Period(start, end),
                            {"corrects_line": no}))
        elif no in wanted:
            value = wanted[no]
            if value <= 0 or amount <= 0 or value > remaining:
                raise StateError(f"ligne {no} : l'avoir partiel doit être positif et au plus {fr.eur(remaining)} "
                                 f"(reste à créditer de {label})")
            out.append(Line(kind, f"Avoir partiel sur : {label}", ONE, "forfait", value, ONE, "", value, rate,
                            Period(start, end), {"corrects_line": no}))
    if not out:
        raise StateError(f"facture {number} : plus rien à créditer")
    return out


def _entirely_credited(cur: psycopg.Cursor, invoice_id: int) -> bool:
    row = cur.execute(
        """SELECT bool_and(l.amount_ht = coalesce((SELECT sum(c.amount_ht) FROM invoice_lines c
                                                   JOIN invoices ci ON ci.id = c.invoice_id
                                                   WHERE ci.corrects_invoice_id = l.invoice_id
                                                     AND (c.details ->> 'corrects_line')::int = l.line_no), 0))
           FROM invoice_lines l WHERE l.invoice_id = %s""", (invoice_id,)).fetchone()
    return bool(row and row[0])


def _reissue(conn: psycopg.Connection, cur: psycopg.Cursor, original: dict[str, Any], actor: str,
             degree_days: DegreeDays | None, now: datetime) -> str:
    """Compute and issue the corrected invoice of the credited invoice's contract and period."""
    period = Period(original["period_start"], original["period_end"])
    contracts = store.read_contracts(conn, period, [original["contract_id"]])
    run_date: date = now.astimezone(PARIS).date()
    inputs = RunInputs.read(conn, [(contracts[0], period)], run_date)
    try:
        draft = inputs.draft(contracts[0], period, run_date, degree_days)
    except ContractException as exc:
        raise BillingError("rien n'a été émis : la facture rectificative ne peut être calculée "
                           f"({exc.message})") from exc
    write_drafts(conn, None, [draft], store.read_issuer(conn), read_parties(conn, [draft.contract.id]))
    row = cur.execute("SELECT max(id) FROM invoices WHERE contract_id = %s AND status = 'draft' AND run_id IS NULL",
                      (draft.contract.id,)).fetchone()
    assert row is not None  # noqa: S101
    (number,) = issue_drafts(cur, [int(row[0])], actor, now)
    return number
