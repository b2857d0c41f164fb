"""Letters from the régie to a subscriber, printed to PDF by Typst: the amicable reminder of an unpaid
invoice and the account statement (relevé de compte).

As for invoices, everything is formatted in French here and handed to the template
(``templates/letter.typ``) as JSON; the template only lays out. Amounts are euros [€].
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any

from billing import fr
from billing.documents.pdf import FONTS, HERE, TYPST_LOCK
from billing.identifiers import creditor_reference

TEMPLATE = HERE / "templates" / "letter.typ"


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]
    widths: list[str]  # "auto" or "1fr" per column
    right: list[int]  # columns aligned right (amounts)
    total: list[str] | None = None


@dataclass(frozen=True)
class Letter:
    title: str  # the document's title (PDF metadata and footer)
    kind: str  # the word printed in the top right corner
    sender: dict[str, Any]  # name, lines
    recipient: dict[str, Any]  # name, lines, ids
    place_date: str
    facts: list[list[str]]
    before: list[str]
    table: Table | None = None
    after: list[str] = field(default_factory=list)
    signature: str = ""
    notes: list[str] = field(default_factory=list)


@lru_cache(maxsize=1)
def _compiler() -> Any:
    import typst

    return typst.Compiler(str(TEMPLATE), root=str(HERE), font_paths=[str(FONTS)], ignore_system_fonts=True)


def render_letter(letter: Letter) -> bytes:
    """The letter as PDF."""
    data = json.dumps(asdict(letter), ensure_ascii=False)
    with TYPST_LOCK:
        return bytes(_compiler().compile(sys_inputs={"data": data}))


def reminder_letter(issuer: dict[str, Any], subscriber: dict[str, Any], invoice: dict[str, Any], level: int,
                    today: date) -> Letter:
    """The amicable reminder of ``level`` (1 first, 2 second and last before the public accountant) for an
    invoice still owing ``invoice["due"]`` after its due date.

    ``invoice``: number, issue_date, due_date, total_ttc, due, period_start, period_end (exclusive),
    interest and indemnity (professional debtors, computed under Code de commerce L.441-10).
    """
    number, due = invoice["number"], invoice["due"]
    last_day = date.fromordinal(invoice["period_end"].toordinal() - 1)
    opening = {1: "Sauf erreur de notre part, la facture ci-dessous n'a pas été réglée à son échéance.",
               2: "Malgré notre premier rappel, la facture ci-dessous reste impayée à ce jour."}[min(level, 2)]
    kind = {1: "Rappel", 2: "Second rappel"}[min(level, 2)]
    after = [f"Nous vous remercions de bien vouloir régler la somme de {fr.eur(due)} dans les meilleurs délais, "
             f"{_how_to_pay(issuer, number)}",
             "Si vous avez réglé cette somme entre-temps, nous vous prions de ne pas tenir compte de ce courrier. "
             f"Pour toute question ou difficulté de paiement, contactez-nous : {_contact(issuer)}."]
    if level >= 2:
        after.append("À défaut de règlement, la créance sera transmise au comptable public, "
                     f"{issuer['accountant']}, chargé de son recouvrement, y compris par voie forcée.")
    if invoice["interest"] or invoice["indemnity"]:
        after.append(f"En application de l'article L.441-10 du Code de commerce, des pénalités de retard de "
                     f"{fr.eur(invoice['interest'])} à ce jour et une indemnité forfaitaire pour frais de "
                     f"recouvrement de {fr.eur(invoice['indemnity'])} sont exigibles.")
    rows = [[number, fr.day(invoice["issue_date"]), f"du {fr.day(invoice['period_start'])} au {fr.day(last_day)}",
             fr.day(invoice["due_date"]), fr.eur(invoice["total_ttc"]), fr.eur(due)]]
    return Letter(
        title=f"{kind} – facture {number}", kind=kind, sender=sender_block(issuer),
        recipient=recipient_block(subscriber),
        place_date=f"{issuer['city']}, le {fr.day(today)}",
        facts=[["Objet", f"{kind.lower()} de paiement"], ["Abonné", subscriber["code"]],
               ["Référence de paiement", creditor_reference(number)]],
        before=["Madame, Monsieur,", opening],
        table=Table(["Facture", "Émise le", "Période", "Échéance", "Montant TTC", "Reste dû"], rows,
                    ["auto", "auto", "1fr", "auto", "auto", "auto"], [4, 5]),
        after=[*after, "Nous vous prions d'agréer, Madame, Monsieur, nos salutations distinguées."],
        signature=f"Le service facturation\n{issuer['name']}",
        notes=[issuer.get("recourse_text") or "", issuer.get("complaints_text") or ""])


def account_statement(issuer: dict[str, Any], subscriber: dict[str, Any], entries: list[Any],
                      summary: dict[str, Decimal], today: date) -> Letter:
    """The subscriber's account (relevé de compte): every entry with its running balance, what remains
    due, of which overdue, and the credit it holds. ``entries``: :class:`billing.ledger.AccountEntry`."""
    rows = [[fr.day(e.day), e.label, e.document or "", fr.eur(e.debit) if e.debit else "",
             fr.eur(e.credit) if e.credit else "", fr.eur(e.balance)] for e in entries]
    balance = entries[-1].balance if entries else Decimal("0.00")
    owed = ("Solde débiteur : " + fr.eur(balance) + " restent à régler." if balance > 0 else
            "Solde créditeur : " + fr.eur(-balance) + " en votre faveur." if balance < 0 else "Votre compte est soldé.")
    before = ["Madame, Monsieur,",
              f"Voici le relevé de votre compte d'abonné au {fr.day(today)} : vos factures et avoirs, vos paiements "
              "et les encaissements du comptable public, avec le solde après chaque opération."]
    after = [owed]
    if summary["overdue"] > 0:
        after.append(f"Dont {fr.eur(summary['overdue'])} dont l'échéance est dépassée ; merci de les régler "
                     f"{_how_to_pay(issuer, None)}")
    if not entries:
        before.append("Aucune opération n'est enregistrée sur votre compte.")
    return Letter(
        title=f"Relevé de compte – {subscriber['code']} – {fr.day(today)}", kind="Relevé de compte",
        sender=sender_block(issuer), recipient=recipient_block(subscriber),
        place_date=f"{issuer['city']}, le {fr.day(today)}",
        facts=[["Abonné", f"{subscriber['code']} – {subscriber['name']}"], ["Solde", fr.eur(balance)],
               ["Dont échu", fr.eur(summary["overdue"])]],
        before=before,
        table=Table(["Date", "Opération", "Pièce", "Débit", "Crédit", "Solde"], rows,
                    ["auto", "1fr", "auto", "auto", "auto", "auto"], [3, 4, 5],
                    ["", "Total", "", fr.eur(sum((e.debit for e in entries), Decimal(0))),
                     fr.eur(sum((e.credit for e in entries), Decimal(0))), fr.eur(balance)]) if rows else None,
        after=after, signature=f"Le service facturation\n{issuer['name']}",
        notes=["Débit : sommes facturées et prélèvements revenus impayés. Crédit : avoirs, paiements et encaissements. "
               "Un solde positif est dû par l'abonné ; un solde négatif est un crédit en sa faveur."])


def regularisation_letter(issuer: dict[str, Any], subscriber: dict[str, Any], plan: dict[str, Any],
                          invoices: list[list[Any]], today: date) -> Letter:
    """The yearly regularisation of monthly instalments: the period's invoices, what the instalments
    collected and how it was applied, the balance to pay or the sum refunded.

    ``plan``: period_start, period_end (exclusive), collected, applied, regularised_on;
    ``invoices``: [number, period_start, period_end (exclusive), owed before, applied] [€].
    """
    collected, applied = plan["collected"], plan["applied"]
    owed = sum((row[3] for row in invoices), Decimal(0))
    balance, refund = owed - applied, collected - applied
    last_day = date.fromordinal(plan["period_end"].toordinal() - 1)
    outcome = (f"Il reste {fr.eur(balance)} à régler {_how_to_pay(issuer, None)}" if balance > 0 else
               f"Vos échéances dépassent vos factures de {fr.eur(refund)} : cette somme vous sera remboursée par "
               "virement, ou déduite de vos prochaines factures si vous le préférez." if refund > 0 else
               "Vos échéances couvrent exactement vos factures : rien à payer ni à rembourser.")
    rows = [[number, f"du {fr.day(start)} au {fr.day(date.fromordinal(end.toordinal() - 1))}", fr.eur(before),
             fr.eur(part), fr.eur(before - part)] for number, start, end, before, part in invoices]
    return Letter(
        title=f"Régularisation annuelle – {subscriber['code']} – {fr.day(plan['period_start'])}",
        kind="Régularisation", sender=sender_block(issuer), recipient=recipient_block(subscriber),
        place_date=f"{issuer['city']}, le {fr.day(today)}",
        facts=[["Abonné", f"{subscriber['code']} – {subscriber['name']}"],
               ["Période", f"du {fr.day(plan['period_start'])} au {fr.day(last_day)}"],
               ["Échéances prélevées", fr.eur(collected)], ["Factures de la période", fr.eur(owed)]],
        before=["Madame, Monsieur,",
                "Vous avez choisi la mensualisation : vos échéances mensuelles ont réglé vos factures de chauffage "
                "urbain de la période, de la plus ancienne à la plus récente. Voici le décompte de l'année."],
        table=Table(["Facture", "Période", "Due", "Réglée par les échéances", "Reste dû"], rows,
                    ["auto", "1fr", "auto", "auto", "auto"], [2, 3, 4],
                    ["Total", "", fr.eur(owed), fr.eur(applied), fr.eur(balance)]),
        after=[outcome, "Nous vous prions d'agréer, Madame, Monsieur, nos salutations distinguées."],
        signature=f"Le service facturation\n{issuer['name']}",
        notes=["Les factures restent les pièces de votre consommation et de la TVA ; les échéances sont des "
               "acomptes, appliqués ici à ces factures."])


def sender_block(issuer: dict[str, Any]) -> dict[str, Any]:
    """The régie as a letter's sender (name, legal form, address, SIRET, contact)."""
    street = ", ".join(x for x in (issuer["address_line1"], issuer.get("address_line2")) if x)
    return {"name": issuer["name"], "lines": [issuer["legal_form"], street, f"{issuer['postcode']} {issuer['city']}",
                                              f"SIRET {issuer['siret']}", _contact(issuer)]}


def recipient_block(subscriber: dict[str, Any]) -> dict[str, Any]:
    """A subscriber as a letter's recipient (name, postal address, subscriber code)."""
    lines = [x for x in (subscriber["address_line1"], subscriber.get("address_line2"),
                         f"{subscriber['postcode']} {subscriber['city']}") if x]
    return {"name": subscriber["name"], "lines": lines, "ids": f"Abonné {subscriber['code']}"}


def _contact(issuer: dict[str, Any]) -> str:
    return " · ".join(x for x in (issuer["email"], issuer.get("phone")) if x)


def _how_to_pay(issuer: dict[str, Any], number: str | None) -> str:
    iban = " ".join(issuer["iban"][i:i + 4] for i in range(0, len(issuer["iban"]), 4))
    reference = f", en indiquant la référence {creditor_reference(number)}" if number else ""
    return f"par virement à l'ordre du comptable public (IBAN {iban}, BIC {issuer['bic']}){reference}."
