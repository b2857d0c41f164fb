"""SEPA direct debit (pain.008.001.02, CORE) for the issued invoices of a run paid by mandate.

Built with ``sepaxml`` and validated against its bundled XSD. Rules applied:
- one payment per invoice: amount its total incl. VAT, end-to-end id its number (the subscriber's bank
  statement shows it), remittance text number + period;
- sequence type: FRST for a mandate's first collection (or when every collection it had came back),
  RCUR after (the mandate's first export fixes
  it); the types used are stored with the file, so exporting the same run and date again returns the
  very same file;
- IBAN and BIC checked with schwifty (the BIC found from the IBAN when missing), mandate references
  against the EPC character set (the XSD does not check it), names cut to 70 characters;
- an invoice is collected once: a later export of the run takes only what no earlier one did;
- the collection date is neither before the invoices' due date nor closer to their issue than the
  pre-notification the SEPA Core rulebook requires by default (14 calendar days: the invoice, which
  states the amount and the date, is the pre-notification); a date too early is refused with the
  earliest date allowed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from sepaxml import SepaDD

from billing import fr, identifiers
from billing.errors import BillingError, FieldError, StateError, ValidationError
from billing.runs import audit

PRE_NOTIFICATION_DAYS = 14  # SEPA Core rulebook default (PT-04.01): at least 14 calendar days before collection


@dataclass(frozen=True)
class SepaExport:
    export_id: int
    content: bytes
    payments: int
    total: Decimal  # [€]
    message_id: str
    first: int  # payments with sequence type FRST


def export_sepa(conn: psycopg.Connection, run_id: int, collection_date: date, *, actor: str,
                today: date | None = None) -> SepaExport:
    """The pain.008 file of a run's direct debits due on ``collection_date`` (stored; the same file if
    asked again).

    Raises:
        StateError: the run is not issued, the date is past, or nothing is left to collect.
        ValidationError: a mandate, IBAN or BIC is invalid (every one named; nothing stored).
    """
    existing = conn.execute("SELECT id, content, payments, total, message_id FROM sepa_exports WHERE run_id = %s "
                            "AND collection_date = %s", (run_id, collection_date)).fetchone()
    if existing is not None:
        firsts = conn.execute("SELECT count(*) FROM sepa_export_items WHERE export_id = %s "
                              "AND sequence_type = 'FRST'", (existing[0],)).fetchone()
        return SepaExport(existing[0], bytes(existing[1]), existing[2], existing[3], existing[4],
                          int(firsts[0]) if firsts else 0)
    status = conn.execute("SELECT status FROM bill_runs WHERE id = %s", (run_id,)).fetchone()
    if status is None or status[0] != "issued":
        raise StateError(f"tournée {run_id} : seules les tournées émises se prélèvent")
    if collection_date < (today or date.today()):
        raise StateError(f"date de prélèvement {fr.day(collection_date)} passée")
    issuer = conn.execute("SELECT name, iban, bic, sepa_creditor_id FROM billing_issuer").fetchone()
    if issuer is None:
        raise BillingError("l'émetteur des factures n'est pas configuré")
    rows = _collectable(conn, run_id)
    if not rows:
        raise StateError(f"tournée {run_id} : aucune facture à prélever (toutes déjà prélevées, ou aucun mandat)")
    earliest = earliest_collection(conn, run_id)
    if earliest is not None and collection_date < earliest:
        raise StateError(f"date de prélèvement {fr.day(collection_date)} trop proche : au plus tôt le "
                         f"{fr.day(earliest)} (échéance des factures, et pré-notification de "
                         f"{PRE_NOTIFICATION_DAYS} jours après leur émission)")
    payments, errors = _payments(rows, collection_date)
    if errors:
        raise ValidationError(errors, f"prélèvements de la tournée {run_id}")
    content, message_id = build_pain008(issuer, [p["sepa"] for p in payments])
    total = sum((p["amount"] for p in payments), Decimal(0))
    with conn.transaction(), conn.cursor() as cur:
        row = cur.execute("INSERT INTO sepa_exports (run_id, collection_date, message_id, content, sha256, payments, "
                          "total, created_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                          (run_id, collection_date, message_id, content, hashlib.sha256(content).hexdigest(),
                           len(payments), total, actor)).fetchone()
        assert row is not None  # noqa: S101
        cur.executemany("INSERT INTO sepa_export_items (export_id, invoice_id, mandate_id, sequence_type, amount) "
                        "VALUES (%s, %s, %s, %s, %s)",
                        [(row[0], p["invoice_id"], p["mandate_id"], p["sepa"]["type"], p["amount"]) for p in payments])
        cur.execute("UPDATE sepa_mandates SET first_collected_on = %s WHERE first_collected_on IS NULL "
                    "AND id = ANY(%s)", (collection_date, [p["mandate_id"] for p in payments]))
        audit(conn, actor, "sepa_exported", "bill_run", run_id,
              {"collection_date": collection_date.isoformat(), "payments": len(payments), "total": str(total)})
    first = sum(1 for p in payments if p["sepa"]["type"] == "FRST")
    return SepaExport(int(row[0]), content, len(payments), total, message_id, first)


def build_pain008(issuer: tuple[Any, ...], payments: list[dict[str, Any]]) -> tuple[bytes, str]:
    """The pain.008.001.02 file of these sepaxml payments from the creditor ``issuer`` (name, IBAN, BIC,
    creditor id), validated against the XSD, and its message id.

    Raises:
        BillingError: the file does not validate (the schema's reason named).
    """
    sepa = SepaDD({"name": issuer[0][:70], "IBAN": issuer[1], "BIC": issuer[2], "batch": True,
                   "creditor_id": issuer[3], "currency": "EUR"}, schema="pain.008.001.02", clean=True)
    for payment in payments:
        sepa.add_payment(dict(payment))  # add_payment mutates what it is given
    try:
        content = bytes(sepa.export(validate=True, pretty_print=True))
    except Exception as exc:  # sepaxml wraps the XSD error; its reason is in __cause__
        raise BillingError(f"fichier SEPA non conforme au schéma pain.008 : {exc.__cause__ or exc}") from exc
    found = re.search(rb"<MsgId>([^<]+)</MsgId>", content)
    return content, found.group(1).decode() if found else hashlib.sha256(content).hexdigest()[:35]


def earliest_collection(conn: psycopg.Connection, run_id: int) -> date | None:
    """The earliest collection date for the run's direct debits: its invoices' latest due date, and
    :data:`PRE_NOTIFICATION_DAYS` after their latest issue date."""
    row = conn.execute("SELECT max(due_date), max(issue_date) FROM invoices i JOIN contracts c ON c.id = i.contract_id "
                       "WHERE i.run_id = %s AND i.kind = 'invoice' AND i.status = 'issued' "
                       "AND c.payment_method = 'sepa'", (run_id,)).fetchone()
    if row is None or row[0] is None:
        return None
    due: date = row[0]
    issued: date = row[1]
    return max(due, issued + timedelta(days=PRE_NOTIFICATION_DAYS))


def _collectable(conn: psycopg.Connection, run_id: int) -> list[tuple[Any, ...]]:
    """Issued invoices of the run paid by an active mandate and not yet in an export, with their mandate
    and whether that mandate was ever collected before."""
    return conn.execute(
        """SELECT i.id, i.number, i.total_ttc, i.period_start, i.period_end, s.name, m.id, m.reference, m.signed_on,
                  m.iban, m.bic, mandate_collected(m.id) AS collected
           FROM invoices i JOIN contracts c ON c.id = i.contract_id JOIN subscribers s ON s.id = i.subscriber_id
           JOIN sepa_mandates m ON m.id = c.mandate_id AND m.status = 'active'
           WHERE i.run_id = %s AND i.kind = 'invoice' AND i.status = 'issued' AND c.payment_method = 'sepa'
             AND i.total_ttc > 0
             AND NOT EXISTS (SELECT 1 FROM sepa_export_items x WHERE x.invoice_id = i.id)
             AND NOT EXISTS (SELECT 1 FROM billed_months b WHERE b.invoice_id = i.id AND b.released_by IS NOT NULL)
             AND NOT EXISTS (SELECT 1 FROM instalment_plans p WHERE p.subscriber_id = i.subscriber_id
                             AND p.status <> 'cancelled' AND i.period_start >= p.period_start
                             AND i.period_start < p.period_end)
           ORDER BY i.number""", (run_id,)).fetchall()


def _payments(rows: list[tuple[Any, ...]], collection_date: date) -> tuple[list[dict[str, Any]], list[FieldError]]:
    payments, errors = [], []
    for (invoice_id, number, total, start, end, name, mandate_id, reference, signed_on, iban, bic, collected) in rows:
        try:
            iban = identifiers.normalise_iban(iban)
            bic = identifiers.normalise_bic(bic) if bic else identifiers.bic_for_iban(iban)
            reference = identifiers.normalise_mandate_reference(reference)
        except ValueError as exc:
            errors.append(FieldError(f"facture {number}", str(exc)))
            continue
        if not bic:
            errors.append(FieldError(f"facture {number}", f"BIC introuvable pour l'IBAN {iban}"))
            continue
        last = date.fromordinal(end.toordinal() - 1)
        payments.append({"invoice_id": invoice_id, "mandate_id": mandate_id, "amount": total, "sepa": {
            "name": name[:70], "IBAN": iban, "BIC": bic, "amount": int(total * 100),
            "type": "RCUR" if collected else "FRST", "collection_date": collection_date, "mandate_id": reference,
            "mandate_date": signed_on, "endtoend_id": number,
            "description": f"Facture {number} chauffage urbain du {start:%d/%m/%Y} au {last:%d/%m/%Y}"[:140]}})
    return payments, errors
