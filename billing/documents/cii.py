"""The invoice as UN/CEFACT CII XML, profile EN 16931 (Factur-X 1.0), built with drafthorse.

Mapping (EN 16931 business terms):
- BT-1 number, BT-2 issue date, BT-3 380 (invoice) or 381 (credit note), BT-9 due date, BT-23 ``S1``
  (services, French reform), BT-10 buyer reference (Chorus Pro service code), BT-12 contract,
  BT-13 engagement number, BG-3 the invoice a credit note corrects, BG-14 the billed period.
- Notes (BG-1): PMT (recovery indemnity), PMD (late-payment penalties), AAB (no discount) as the French
  reform requires (BR-FR-05), AAI the voies et délais de recours of a titre exécutoire.
- Parties: SIREN as legal registration (scheme 0002, BR-FR-10), SIRET as global id (scheme 0009),
  VAT number, postal address, electronic address (scheme 0225: SIREN-based, else EM: e-mail).
- Lines: R1 and regularisations in MWh (MWH), R2 terms in kW (KWT) at the annual price times the
  line's share of the year, partial credits as a lump sum (C62). A category reduction is a
  document-level allowance (BG-20) with its VAT rate, so every net price stays positive (BR-27).
- Payment: SEPA direct debit (59) with mandate (BT-89), creditor id (BT-90) and debited IBAN (BT-91);
  or SEPA credit transfer (58) to the régie's IBAN (BT-84) and BIC (BT-86).
- VAT breakdown per rate, category S, as on the PDF to the cent.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from drafthorse.models.accounting import ApplicableTradeTax, CategoryTradeTax, TradeAllowanceCharge
from drafthorse.models.document import Document
from drafthorse.models.note import IncludedNote
from drafthorse.models.party import TaxRegistration
from drafthorse.models.payment import PaymentMeans, PaymentTerms
from drafthorse.models.tradelines import LineItem

from billing.documents.content import LATE_PAYMENT_LAW, DocumentContent
from billing.identifiers import creditor_reference

GUIDELINE = "urn:cen.eu:en16931:2017"
UNIT_CODES = {"MWh": "MWH", "kW": "KWT", "forfait": "C62"}
NOTE_PMT = ("Indemnité forfaitaire pour frais de recouvrement en cas de retard de paiement : 40 € "
            "(art. L.441-10 et D.441-5 du code de commerce), due par les professionnels.")
NOTE_AAB = "Pas d'escompte pour paiement anticipé."
NOTE_CREDIT = "Sans objet : avoir, aucun paiement n'est dû par le client (ni pénalité ni indemnité de retard)."
PRICE_PLACES = Decimal("0.000001")


def build_cii(content: DocumentContent) -> bytes:
    """The CII XML of an issued invoice or credit note."""
    inv, seller, buyer = content.invoice, content.invoice["seller"], content.invoice["buyer"]
    doc = Document()
    doc.context.guideline_parameter.id = GUIDELINE
    doc.context.business_parameter.id = "S1"
    doc.header.id = inv["number"]
    doc.header.type_code = "381" if content.is_credit_note else "380"
    doc.header.issue_date_time = inv["issue_date"]
    if content.is_credit_note:  # the French CIUS wants the three notes; none applies to a credit note
        notes = [("PMT", NOTE_CREDIT), ("PMD", NOTE_CREDIT), ("AAB", NOTE_AAB)]
    else:  # late payment and enforceability belong to an invoice
        notes = [("PMT", NOTE_PMT), ("PMD", f"{seller['late_payment_text']} {LATE_PAYMENT_LAW}"),
                 ("AAB", NOTE_AAB), ("AAI", seller["recourse_text"])]
    for subject, text in notes:
        note = IncludedNote()
        note.content = text
        note.subject_code = subject
        doc.header.notes.add(note)
    if content.is_credit_note and inv.get("reason"):
        note = IncludedNote()
        note.content = f"Motif de l'avoir : {inv['reason']}"
        note.subject_code = "AAI"
        doc.header.notes.add(note)

    agreement = doc.trade.agreement
    if buyer.get("chorus_service_code"):
        agreement.buyer_reference = buyer["chorus_service_code"]
    _party(agreement.seller, seller["name"], seller["siren"], seller["siret"], seller["vat_number"], seller,
           seller["email"])
    _party(agreement.buyer, buyer["name"], buyer.get("siren"), buyer.get("siret"), buyer.get("vat_number"), buyer,
           buyer.get("email"))
    if buyer.get("chorus_engagement"):
        agreement.buyer_order.issuer_assigned_id = buyer["chorus_engagement"]
    agreement.contract.issuer_assigned_id = buyer["contract"]
    delivery = doc.trade.delivery.ship_to
    delivery.name = buyer.get("delivery_point_name") or buyer["delivery_point"]
    delivery.address.line_one = buyer.get("delivery_point_address") or buyer["address_line1"]
    delivery.address.country_id = "FR"

    settlement = doc.trade.settlement
    settlement.currency_code = "EUR"
    settlement.payment_reference = (inv["number"] if content.corrects is not None
                                    else creditor_reference(inv["number"]))  # ISO 11649 for transfers
    settlement.period.start = inv["period_start"]
    settlement.period.end = date.fromordinal(inv["period_end"].toordinal() - 1)
    _payment(settlement, inv, seller)
    if content.corrects is not None:
        settlement.invoice_referenced_document.issuer_assigned_id = content.corrects["number"]
        settlement.invoice_referenced_document.issue_date_time = content.corrects["issue_date"]

    lines_total, allowances = Decimal(0), Decimal(0)
    for line in content.lines:
        if line["kind"] == "reduction":
            allowances += _allowance(settlement, line)
        else:
            lines_total += _line(doc, line)
    for v in content.vat:
        tax = ApplicableTradeTax()
        tax.calculated_amount = v["vat"]
        tax.type_code = "VAT"
        tax.basis_amount = v["base"]
        tax.category_code = "S"
        tax.rate_applicable_percent = v["rate"]
        settlement.trade_tax.add(tax)
    total = settlement.monetary_summation
    total.line_total = lines_total
    total.charge_total = Decimal("0.00")
    total.allowance_total = allowances
    total.tax_basis_total = inv["total_ht"]
    total.tax_total = (inv["total_vat"], "EUR")
    total.grand_total = inv["total_ttc"]
    total.prepaid_total = Decimal("0.00")
    total.due_amount = inv["total_ttc"]
    return bytes(doc.serialize(schema=None))  # validated once, by the caller (billing.documents.facturx)


def _party(party: Any, name: str, siren: str | None, siret: str | None, vat: str | None, address: dict[str, Any],
           email: str | None) -> None:
    party.name = name
    if siret:
        party.global_id.add(("0009", siret))
    if siren:
        party.legal_organization.id = ("0002", siren)
    party.address.postcode = address["postcode"]
    party.address.line_one = address["address_line1"]
    if address.get("address_line2"):
        party.address.line_two = address["address_line2"]
    party.address.city_name = address["city"]
    party.address.country_id = address.get("country") or "FR"
    if siren:
        party.electronic_address.uri_ID = ("0225", siren)
    elif email:
        party.electronic_address.uri_ID = ("EM", email)
    if vat:
        party.tax_registrations.add(TaxRegistration(id=("VA", vat)))


def _payment(settlement: Any, inv: dict[str, Any], seller: dict[str, Any]) -> None:
    means = PaymentMeans()
    terms = PaymentTerms()
    payment = inv["payment"]
    if payment["method"] == "sepa":
        means.type_code = "59"
        means.payer_account.iban = payment["iban"]
        settlement.creditor_reference_id = seller["sepa_creditor_id"]
        terms.debit_mandate_id = payment["mandate_reference"]
        terms.description = f"Prélèvement SEPA à l'échéance, mandat {payment['mandate_reference']}"
    else:
        means.type_code = "58"
        means.payee_account.iban = seller["iban"]
        means.payee_institution.bic = seller["bic"]
        terms.description = f"Virement à l'échéance, référence {creditor_reference(inv['number'])}"
    settlement.payment_means.add(means)
    terms.due = inv["due_date"]
    settlement.terms.add(terms)


def _line(doc: Document, line: dict[str, Any]) -> Decimal:
    item = LineItem()
    item.document.line_id = str(line["line_no"])
    item.product.name = line["label"]
    price = line["unit_price"] if line["unit"] != "kW" else (line["unit_price"] * line["prorata"]).quantize(
        PRICE_PLACES)
    item.agreement.net.amount = price
    item.delivery.billed_quantity = (line["quantity"], UNIT_CODES[line["unit"]])
    item.settlement.period.start = line["period_start"]
    item.settlement.period.end = date.fromordinal(line["period_end"].toordinal() - 1)
    item.settlement.trade_tax.type_code = "VAT"
    item.settlement.trade_tax.category_code = "S"
    item.settlement.trade_tax.rate_applicable_percent = line["vat_rate"]
    item.settlement.monetary_summation.total_amount = line["amount_ht"]
    doc.trade.items.add(item)
    return Decimal(line["amount_ht"])


def _allowance(settlement: Any, line: dict[str, Any]) -> Decimal:
    allowance = TradeAllowanceCharge()
    allowance.indicator = False
    amount = -Decimal(line["amount_ht"])
    allowance.actual_amount = amount
    allowance.reason = line["label"][:255]
    tax = CategoryTradeTax()
    tax.type_code = "VAT"
    tax.category_code = "S"
    tax.rate_applicable_percent = line["vat_rate"]
    allowance.trade_tax.add(tax)
    settlement.allowance_charge.add(allowance)
    return amount
