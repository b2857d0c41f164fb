"""Accounting export of a bill run for the public accountant (M4 framework of a SPIC).

**Journal** (``journal-<run>.csv``): the columns of the French *fichier des écritures comptables* (FEC,
art. A.47 A-1 of the Livre des procédures fiscales), ``;``-separated, UTF-8, dates ``AAAAMMJJ``,
amounts with a decimal comma. Per invoice: one debit of the customer account (411, the subscriber as
auxiliary account) for the total incl. VAT, and one credit per revenue account (R1, R21-R24, from the
``accounting_accounts`` table) and per VAT rate; a category reduction is a debit of its rebate account.
A credit note of a run's invoice is the mirror entry. Each entry balances to the cent, and so does the
file.

**Titles** (``titres-<run>.csv``): one line per invoice or credit note, what the ordonnateur sends to the
DGFiP to take charge of the revenue (title number = invoice number, debtor and identifiers, object,
amounts, due date, imputation, collection method and mandate), ready to be turned into the PES V2 flow.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg

from billing import fr
from billing.errors import StateError

JOURNAL_COLUMNS = ("JournalCode", "JournalLib", "EcritureNum", "EcritureDate", "CompteNum", "CompteLib", "CompAuxNum",
                   "CompAuxLib", "PieceRef", "PieceDate", "EcritureLib", "Debit", "Credit", "EcritureLet", "DateLet",
                   "ValidDate", "Montantdevise", "Idevise")
TITLE_COLUMNS = ("numero_titre", "nature", "exercice", "date_emission", "date_echeance", "debiteur", "siren",
                 "siret", "adresse", "code_postal", "ville", "objet", "montant_ht", "montant_tva", "montant_ttc",
                 "imputation", "mode_recouvrement", "reference_mandat", "titre_corrige")
JOURNAL = ("VT", "Ventes de chaleur")


@dataclass(frozen=True)
class AccountingExport:
    journal_csv: str
    titles_csv: str
    entries: int
    debit: Decimal
    credit: Decimal


def export_accounting(conn: psycopg.Connection, run_id: int) -> AccountingExport:
    """The journal and the titles of an issued run and of the credit notes on its invoices.

    Raises:
        StateError: the run is not issued.
    """
    status = conn.execute("SELECT status FROM bill_runs WHERE id = %s", (run_id,)).fetchone()
    if status is None or status[0] != "issued":
        raise StateError(f"tournée {run_id} : seule une tournée émise s'exporte en comptabilité")
    accounts = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT line_kind, account, label FROM accounting_accounts")}
    documents = conn.execute(
        """SELECT i.id, i.number, i.kind, i.issue_date, i.due_date, i.period_start, i.period_end, i.total_ht,
                  i.total_vat, i.total_ttc, i.buyer, i.payment, o.number
           FROM invoices i LEFT JOIN invoices o ON o.id = i.corrects_invoice_id
           WHERE i.status = 'issued' AND (i.run_id = %(run)s OR o.run_id = %(run)s)
           ORDER BY i.issued_at, i.number""", {"run": run_id}).fetchall()
    ids = [d[0] for d in documents]
    amounts: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for invoice_id, kind, amount in conn.execute(
            "SELECT invoice_id, kind, sum(amount_ht) FROM invoice_lines WHERE invoice_id = ANY(%s) GROUP BY 1, 2",
            (ids,)):
        amounts[invoice_id][kind] += amount
    for invoice_id, rate, vat in conn.execute(
            "SELECT invoice_id, rate, vat FROM invoice_vat WHERE invoice_id = ANY(%s)", (ids,)):
        amounts[invoice_id][f"vat:{rate:.2f}"] += vat
    journal, titles = io.StringIO(), io.StringIO()
    jw = csv.writer(journal, delimiter=";", lineterminator="\r\n")
    tw = csv.writer(titles, delimiter=";", lineterminator="\r\n")
    jw.writerow(JOURNAL_COLUMNS)
    tw.writerow(TITLE_COLUMNS)
    debit = credit = Decimal(0)
    for entry, doc in enumerate(documents, start=1):
        rows = _entry(doc, amounts[doc[0]], accounts)
        entry_debit = sum((r[0] for r in rows), Decimal(0))
        entry_credit = sum((r[1] for r in rows), Decimal(0))
        if entry_debit != entry_credit:
            raise StateError(f"{doc[1]} : écriture déséquilibrée ({entry_debit} ≠ {entry_credit})")
        debit, credit = debit + entry_debit, credit + entry_credit
        for d, c, account, label, aux, aux_label, text in rows:
            jw.writerow((*JOURNAL, f"{run_id}-{entry:05d}", f"{doc[3]:%Y%m%d}", account, label, aux, aux_label,
                         doc[1], f"{doc[3]:%Y%m%d}", text, _amount(d), _amount(c), "", "", f"{doc[3]:%Y%m%d}", "", ""))
        tw.writerow(_title(doc, accounts))
    return AccountingExport(journal.getvalue(), titles.getvalue(), len(documents), debit, credit)


def _entry(doc: tuple[Any, ...], amounts: dict[str, Decimal], accounts: dict[str, tuple[str, str]]
           ) -> list[tuple[Decimal, Decimal, str, str, str, str, str]]:
    """(debit, credit, account, account label, auxiliary, auxiliary label, text) of one document."""
    _id, number, kind, _issued, _due, start, _end, _ht, _vat, ttc, buyer, _payment, _corrects = doc
    sign = 1 if kind == "invoice" else -1  # a credit note mirrors its invoice
    what = f"{'Facture' if kind == 'invoice' else 'Avoir'} {number} {buyer['contract']} {fr.month(start)}"
    customer, customer_label = accounts["customer"]
    rows = [_side(sign * ttc, customer, customer_label, buyer["code"], buyer["name"], what, debit_when_positive=True)]
    by_account: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for key, value in amounts.items():  # R1 and its regularisations share an account, for instance
        by_account[accounts[key]] += value
    for (account, label), value in sorted(by_account.items()):
        if value != 0:
            rows.append(_side(sign * value, account, label, "", "", what, debit_when_positive=False))
    return rows


def _side(value: Decimal, account: str, label: str, aux: str, aux_label: str, text: str, *,
          debit_when_positive: bool) -> tuple[Decimal, Decimal, str, str, str, str, str]:
    zero = Decimal("0.00")
    as_debit = (value >= 0) == debit_when_positive
    return (abs(value) if as_debit else zero, zero if as_debit else abs(value), account, label, aux, aux_label, text)


def _title(doc: tuple[Any, ...], accounts: dict[str, tuple[str, str]]) -> tuple[str, ...]:
    _id, number, kind, issued, due, start, end, ht, vat, ttc, buyer, payment, corrects = doc
    period = f"du {fr.day(start)} au {fr.day(end.fromordinal(end.toordinal() - 1))}"
    what = f"Fourniture de chaleur {period}, contrat {buyer['contract']}, point {buyer['delivery_point']}"
    return (number, "titre" if kind == "invoice" else "réduction/annulation", str(issued.year), f"{issued:%d/%m/%Y}",
            f"{due:%d/%m/%Y}", buyer["name"], buyer.get("siren") or "", buyer.get("siret") or "",
            " ".join(x for x in (buyer["address_line1"], buyer.get("address_line2")) if x), buyer["postcode"],
            buyer["city"], what,
            _amount(ht), _amount(vat), _amount(ttc), accounts["customer"][0],
            "prélèvement" if payment["method"] == "sepa" else "virement", payment.get("mandate_reference") or "",
            corrects or "")


def _amount(value: Decimal) -> str:
    """``1234,56`` (FEC: decimal comma, no thousands separator)."""
    return f"{value:.2f}".replace(".", ",")
