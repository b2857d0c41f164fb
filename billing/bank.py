"""Bank statements (camt.053) imported and their credit lines matched to invoices, when the régie collects
its invoices itself.

A line is matched, in this order of trust, by the ISO 11649 creditor reference printed on every invoice
(structured, or found in the free text), by an invoice number in the free text, or by its amount and its
payer (exactly one open invoice of that outstanding amount whose subscriber's name or mandate IBAN is the
payer's). Its money goes to the invoice up to what the invoice still owes; anything above is kept as a
credit on the subscriber's account. A line nothing identifies waits in a queue for a person to assign. The credit of a
direct-debit collection (its total, naming the file's message id) is recognised as such: its invoices
are paid by their debits.

Files are read with pycamt (a maintained camt.052/053 parser). A file is imported once (its digest is
kept) and each line once whatever file brings it again, so importing anything twice changes nothing.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import psycopg
from lxml import etree
from pycamt.parser import Camt053ParseError, Camt053Parser

from billing.errors import BankError, NotFoundError, StateError
from billing.identifiers import creditor_reference, find_creditor_reference
from billing.iso20022 import check_schema
from billing.runs import audit

INVOICE_NUMBER = re.compile(r"\b(?:FAC|FACT)-?\d{4}-?\d{6}\b")
MATCH_LABELS = {"reference": "référence RF", "invoice_number": "numéro de facture",
                "amount_payer": "montant et payeur", "manual": "affecté à la main"}
STATE_LABELS = {"matched": "rapproché", "partial": "paiement partiel", "overpaid": "trop-perçu en avoir sur compte",
                "unmatched": "à affecter", "assigned": "affecté à la main"}


@dataclass(frozen=True)
class StatementImport:
    statement_id: int
    already: bool
    lines: int  # new credit lines
    skipped: int  # debits, reversals and lines an earlier file brought
    matched: int
    partial: int
    overpaid: int
    unmatched: int


@dataclass(frozen=True)
class BankLine:
    bank_ref: str
    booked_on: date
    amount: Decimal  # [€] > 0
    debtor_name: str | None
    debtor_iban: str | None
    reference: str | None  # structured creditor reference
    remittance: str | None


class _Parser(Camt053Parser):  # type: ignore[misc]
    """pycamt's parser, with the statement's account remembered: pycamt 1.1 looks it up in the whole
    statement once per entry (``.//Acct//Id//IBAN``), which makes a 10,000-line statement take 25 s."""

    def __init__(self, content: bytes) -> None:
        super().__init__(content)
        self._statement_memo: dict[tuple[int, str], str | None] = {}

    def _find_text(self, element: Any, xpath: str) -> str | None:
        if xpath != ".//Acct//Id//IBAN":
            return super()._find_text(element, xpath)  # type: ignore[no-any-return]
        key = (id(element), xpath)
        if key not in self._statement_memo:
            self._statement_memo[key] = super()._find_text(element, xpath)
        return self._statement_memo[key]


def read_statement(content: bytes) -> tuple[str | None, list[BankLine], int]:
    """The account, the credit lines and how many other entries (debits, reversals) a camt.053 holds.

    Raises:
        BankError: not a readable camt.052/053 statement, or an entry without amount or date.
    """
    check_schema(content, ("camt.053", "camt.052"), what="relevé")
    try:
        parser = _Parser(content)
        transactions = parser.get_transactions()
        info = parser.get_statement_info()
    except (etree.XMLSyntaxError, Camt053ParseError, ValueError) as exc:
        raise BankError(f"relevé illisible (camt.053 attendu) : {exc}") from exc
    if parser.version == "unknown" or not parser.tree.tag.endswith("Document"):
        raise BankError("ce fichier n'est pas un relevé camt.053 (ISO 20022)")
    account = info[0].get("IBAN") if info else None
    lines, others, ranks = [], 0, Counter[str]()
    for n, tx in enumerate(transactions, start=1):
        if tx.get("CreditDebitIndicator") != "CRDT" or str(tx.get("ReversalIndicator")).lower() == "true":
            others += 1
            continue
        try:
            amount = Decimal(str(tx["Amount"])).quantize(Decimal("0.01"))
            booked = date.fromisoformat(str(tx.get("BookingDate") or tx.get("ValueDate"))[:10])
        except (KeyError, InvalidOperation, ValueError) as exc:
            raise BankError(f"écriture {n} du relevé : montant ou date illisible ({exc})") from exc
        if amount <= 0:
            others += 1
            continue
        text = " ".join(str(tx[k]) for k in ("RemittanceInformationFull", "AdditionalRemittanceInformation",
                                             "AdditionalEntryInformation") if tx.get(k)) or None
        structured = tx.get("RemittanceInformation") if tx.get("RemittanceInformation") != tx.get(
            "RemittanceInformationFull") else None
        key = "|".join(str(v) for v in (account, tx.get("TransactionID"), tx.get("EndToEndId"), booked, amount,
                                        tx.get("DebtorIBAN"), structured, text))
        ranks[key] += 1
        lines.append(BankLine(hashlib.sha256(f"{key}|{ranks[key]}".encode()).hexdigest(), booked, amount,
                              tx.get("DebtorName"), tx.get("DebtorIBAN"), structured, text))
    return account, lines, others


def import_statement(conn: psycopg.Connection, content: bytes, name: str, *, actor: str) -> StatementImport:
    """Import a camt.053 statement and match its new credit lines (all or nothing, once per file).

    Raises:
        BankError: the file is not a readable statement (nothing imported).
    """
    digest = hashlib.sha256(content).hexdigest()
    account, lines, others = read_statement(content)
    with conn.transaction():
        conn.execute("LOCK TABLE bank_lines IN SHARE ROW EXCLUSIVE MODE")  # one import or assignment at a time
        seen = conn.execute("SELECT id, lines FROM bank_statements WHERE sha256 = %s", (digest,)).fetchone()
        if seen:
            return StatementImport(int(seen[0]), True, 0, len(lines) + others, 0, 0, 0, 0)
        known = {r[0] for r in conn.execute("SELECT bank_ref FROM bank_lines WHERE bank_ref = ANY(%s)",
                                            ([line.bank_ref for line in lines],))}
        new = [line for line in lines if line.bank_ref not in known]
        row = conn.execute("INSERT INTO bank_statements (name, sha256, account, imported_by, content, lines) "
                           "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                           (name, digest, account, actor, content, len(new))).fetchone()
        assert row is not None  # noqa: S101
        statement_id = int(row[0])
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO bank_lines (statement_id, bank_ref, booked_on, amount, debtor_name, debtor_iban, "
                "reference, remittance) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [(statement_id, line.bank_ref, line.booked_on, line.amount, line.debtor_name, line.debtor_iban,
                  line.reference, line.remittance) for line in new])
        ids: dict[str, int] = dict(conn.execute("SELECT bank_ref, id FROM bank_lines WHERE statement_id = %s",
                                (statement_id,)).fetchall())
        states = _match(conn, [(int(ids[line.bank_ref]), line) for line in new], actor)
        audit(conn, actor, "bank_statement_imported", "bank_statement", statement_id,
              {"name": name, "lines": len(new), **{k: states[k] for k in sorted(states)}})
    return StatementImport(statement_id, False, len(new), others + len(lines) - len(new), states["matched"],
                           states["partial"], states["overpaid"], states["unmatched"])


def open_invoices(conn: psycopg.Connection) -> dict[int, dict[str, Any]]:
    """Issued invoices that still owe something [€], with their subscriber, its name and mandate IBANs."""
    rows = conn.execute(
        """SELECT d.invoice_id, d.number, d.subscriber_id, s.name, d.due, m.ibans
           FROM invoice_dues d JOIN subscribers s ON s.id = d.subscriber_id
           LEFT JOIN (SELECT subscriber_id, array_agg(iban) AS ibans FROM sepa_mandates GROUP BY 1) m
                  ON m.subscriber_id = d.subscriber_id""").fetchall()
    return {int(r[0]): {"number": r[1], "subscriber_id": int(r[2]), "name": r[3], "due": Decimal(r[4]),
                        "ibans": set(r[5] or [])} for r in rows}


def _match(conn: psycopg.Connection, lines: list[tuple[int, BankLine]], actor: str) -> Counter[str]:
    invoices = open_invoices(conn)
    by_number = {inv["number"]: i for i, inv in invoices.items()}
    by_reference = {creditor_reference(inv["number"]): i for i, inv in invoices.items()}
    by_amount: dict[Decimal, list[int]] = defaultdict(list)
    for i, inv in invoices.items():
        if inv["due"] > 0:
            by_amount[inv["due"]].append(i)
    batches = {(r[0], Decimal(r[1])) for r in conn.execute(
        "SELECT message_id, total FROM sepa_exports x WHERE NOT EXISTS (SELECT 1 FROM bank_lines l "
        "WHERE l.matched_by = 'direct_debit' AND l.remittance LIKE '%%' || x.message_id || '%%')")}
    states: Counter[str] = Counter({"matched": 0, "partial": 0, "overpaid": 0, "unmatched": 0})
    payments: list[tuple[Any, ...]] = []
    updates: list[tuple[str, str, int]] = []
    for line_id, line in lines:
        batch = next((b for b in batches if b[1] == line.amount and b[0] in (line.remittance or "")), None)
        if batch is not None:  # the credit of a direct-debit collection: its invoices are paid by the debits
            batches.discard(batch)
            states["matched"] += 1
            updates.append(("matched", "direct_debit", line_id))
            continue
        invoice_id, how = _identify(line, by_reference, by_number, by_amount, invoices)
        if invoice_id is None:
            states["unmatched"] += 1
            continue
        state, _ = _apply(invoices[invoice_id], invoice_id, line_id, line.amount, actor, payments)
        states[state] += 1
        updates.append((state, how, line_id))
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO payments (line_id, invoice_id, subscriber_id, amount, created_by) "
                        "VALUES (%s, %s, %s, %s, %s)", payments)
        cur.executemany("UPDATE bank_lines SET state = %s, matched_by = %s WHERE id = %s", updates)
    return states


def _identify(line: BankLine, by_reference: dict[str, int], by_number: dict[str, int],
              by_amount: dict[Decimal, list[int]], invoices: dict[int, dict[str, Any]]) -> tuple[int | None, str]:
    for text in (line.reference, line.remittance):
        reference = find_creditor_reference(text) if text else None
        if reference and reference in by_reference:
            return by_reference[reference], "reference"
    for number in INVOICE_NUMBER.findall((line.remittance or "").upper()):
        normal = f"{number[:3]}-{number[-11:-7]}-{number[-6:]}" if "-" not in number else number
        if normal in by_number:
            return by_number[normal], "invoice_number"
    candidates = [i for i in by_amount.get(line.amount, [])
                  if invoices[i]["due"] == line.amount and _same_payer(line, invoices[i])]  # still owed in full
    if len(candidates) == 1:
        return candidates[0], "amount_payer"
    return None, ""


def _same_payer(line: BankLine, invoice: dict[str, Any]) -> bool:
    if line.debtor_iban and line.debtor_iban.replace(" ", "") in invoice["ibans"]:
        return True
    payer, subscriber = _words(line.debtor_name or ""), _words(invoice["name"])
    return bool(payer) and len(payer & subscriber) >= min(2, len(payer))


def _words(name: str) -> set[str]:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().upper()
    return {w for w in re.findall(r"[A-Z0-9]+", plain) if len(w) > 2 and w not in {"DES", "LES", "SAS", "SCI"}}


def _apply(invoice: dict[str, Any], invoice_id: int, line_id: int, amount: Decimal, actor: str,
           payments: list[tuple[Any, ...]]) -> tuple[str, Decimal]:
    """Put ``amount`` on the invoice up to what it owes, the rest on the subscriber's account."""
    applied = min(amount, max(invoice["due"], Decimal(0)))
    if applied > 0:
        payments.append((line_id, invoice_id, invoice["subscriber_id"], applied, actor))
        invoice["due"] -= applied
    if amount > applied:
        payments.append((line_id, None, invoice["subscriber_id"], amount - applied, actor))
        return "overpaid", applied
    return ("matched" if invoice["due"] == 0 else "partial"), applied


def assign_line(conn: psycopg.Connection, line_id: int, invoice_number: str, *, actor: str) -> str:
    """A person assigns a waiting line to an invoice; returns the line's new state.

    Raises:
        NotFoundError: unknown line or invoice. StateError: the line is already matched or assigned.
    """
    with conn.transaction():
        conn.execute("LOCK TABLE bank_lines IN SHARE ROW EXCLUSIVE MODE")
        line = conn.execute("SELECT amount, state FROM bank_lines WHERE id = %s FOR UPDATE", (line_id,)).fetchone()
        if line is None:
            raise NotFoundError(f"ligne de relevé {line_id} inconnue")
        if line[1] != "unmatched":
            raise StateError(f"la ligne {line_id} est déjà {STATE_LABELS[line[1]]} : elle ne s'affecte qu'une fois")
        invoices = open_invoices(conn)
        found = next((i for i, inv in invoices.items() if inv["number"] == invoice_number.strip().upper()), None)
        if found is None:
            raise NotFoundError(f"facture {invoice_number} inconnue (ou pas encore émise)")
        payments: list[tuple[Any, ...]] = []
        state, _ = _apply(invoices[found], found, line_id, Decimal(line[0]), actor, payments)
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO payments (line_id, invoice_id, subscriber_id, amount, created_by) "
                            "VALUES (%s, %s, %s, %s, %s)", payments)
        conn.execute("UPDATE bank_lines SET state = 'assigned', matched_by = 'manual' WHERE id = %s", (line_id,))
        audit(conn, actor, "bank_line_assigned", "bank_line", line_id, {"invoice": invoice_number, "result": state})
    return state


def unmatched_lines(conn: psycopg.Connection, limit: int = 200) -> list[dict[str, Any]]:
    keys = ("id", "booked_on", "amount", "debtor_name", "reference", "remittance")
    return [dict(zip(keys, r, strict=True)) for r in conn.execute(
        "SELECT id, booked_on, amount, debtor_name, reference, remittance FROM bank_lines WHERE state = 'unmatched' "
        "ORDER BY booked_on, id LIMIT %s", (limit,))]
