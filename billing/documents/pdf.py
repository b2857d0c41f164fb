"""The invoice a subscriber reads, printed to PDF/A-3b by the Typst compiler.

Why Typst (the ``typst`` package, the compiler itself as a Python extension): it writes PDF/A-3b, as
Factur-X needs, with embedded subset fonts, in about 30 ms a page, needs no system library, and its
template language lays out tables and pages simply. The template (``templates/invoice.typ``) only lays
out: :func:`document_data` formats every text in French here and hands it over as JSON, so no value is
ever read as markup. The font (DejaVu Sans) ships with the package: documents look the same on every
machine.
"""

from __future__ import annotations

import json
import threading
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from billing import fr
from billing.documents.chart import consumption_chart
from billing.documents.content import LATE_PAYMENT_LAW, DocumentContent
from billing.identifiers import creditor_reference
from billing.model import READING_KIND_LABELS

HERE = Path(__file__).parent
TEMPLATE = HERE / "templates" / "invoice.typ"
FONTS = HERE / "fonts"
UNIT_PRICE_LABEL = {"MWh": "€/MWh", "kW": "€/kW/an"}
TYPST_LOCK = threading.Lock()  # one Typst compiler per process, used by one thread at a time


@lru_cache(maxsize=1)
def _compiler() -> Any:
    import typst

    return typst.Compiler(str(TEMPLATE), root=str(HERE), font_paths=[str(FONTS)], ignore_system_fonts=True)


def render_pdf(content: DocumentContent) -> bytes:
    """The document as PDF/A-3b."""
    data = json.dumps(document_data(content), ensure_ascii=False)
    with TYPST_LOCK:  # untagged: PDF/A-3b needs no tags, and half the objects make Factur-X embedding 3x faster
        pdf = _compiler().compile(sys_inputs={"data": data}, pdf_standards=["a-3b"], pdf_tags=False,
                                  timestamp=int(datetime.combine(content.invoice["issue_date"],
                                                                 datetime.min.time()).timestamp()))
    return bytes(pdf)


def document_data(content: DocumentContent) -> dict[str, Any]:
    """Everything the template prints, as French text."""
    inv, seller, buyer = content.invoice, content.invoice["seller"], content.invoice["buyer"]
    credit = content.is_credit_note
    last_day = date.fromordinal(inv["period_end"].toordinal() - 1)
    facts = [["Numéro", inv["number"]], ["Date d'émission", fr.day(inv["issue_date"])]]
    if not credit:
        facts.append(["Date d'échéance", fr.day(inv["due_date"])])
    facts += [["Période", f"du {fr.day(inv['period_start'])} au {fr.day(last_day)}"], ["Contrat", buyer["contract"]]]
    if buyer.get("chorus_service_code"):
        facts.append(["Code service", buyer["chorus_service_code"]])
    if buyer.get("chorus_engagement"):
        facts.append(["N° d'engagement", buyer["chorus_engagement"]])
    disclosure = content.extras.disclosure
    return {
        "title": "Avoir" if credit else "Facture",
        "number": inv["number"],
        "facts": facts,
        "seller": {"name": seller["name"], "lines": [
            seller["legal_form"], _address(seller), f"SIREN {seller['siren']} · SIRET {seller['siret']}",
            f"N° TVA intracommunautaire {seller['vat_number']}",
            " · ".join(x for x in (seller["email"], seller.get("phone")) if x)]},
        "buyer": {"name": buyer["name"], "lines": [x for x in (buyer["address_line1"], buyer.get("address_line2"),
                                                                f"{buyer['postcode']} {buyer['city']}") if x],
                  "ids": " · ".join(x for x in (
                      f"SIREN {buyer['siren']}" if buyer.get("siren") else None,
                      f"SIRET {buyer['siret']}" if buyer.get("siret") else None,
                      f"TVA {buyer['vat_number']}" if buyer.get("vat_number") else None,
                      f"Abonné {buyer['code']}") if x)},
        "credit": (f"Avoir sur la facture n° {content.corrects['number']} du {fr.day(content.corrects['issue_date'])}. "
                   f"Motif : {inv['reason']}. Ce montant vient en déduction de cette facture."
                   if credit and content.corrects else None),
        "point": _point(content),
        "readings": _readings(inv["readings"] or {}),
        "lines_title": "Détail de l'avoir" if credit else "Détail de la facture",
        "lines": [_line(line) for line in content.lines],
        "vat": [[fr.percent(v["rate"].normalize()), fr.eur(v["base"]), fr.eur(v["vat"])] for v in content.vat],
        "total_ht": fr.eur(inv["total_ht"]), "total_vat": fr.eur(inv["total_vat"]),
        "total_label": "Montant de l'avoir TTC" if credit else "Total TTC – net à payer",
        "total_ttc": fr.eur(inv["total_ttc"]),
        "payment": _payment(inv, seller, credit),
        # late payment and enforceability belong to an invoice (a credit note is owed by the régie)
        "late_payment": None if credit else f"{seller['late_payment_text']} {LATE_PAYMENT_LAW}",
        "recourse": None if credit else (f"{seller['recourse_text']} Comptable public chargé du recouvrement : "
                                         f"{seller['accountant']}."),
        "complaints": seller["complaints_text"],
        "electronic": "Facture électronique au format Factur-X (EN 16931) : ce PDF contient les données structurées "
                      "de la facture. Document à conserver.",
        "chart": consumption_chart(content.extras.history) or None,
        "mix_title": f"Bouquet énergétique du réseau ({disclosure.year})" if disclosure else "",
        "mix": [[source, fr.percent(share)] for source, share in disclosure.mix.items()] if disclosure else [],
        "network": ([f"Énergies renouvelables et de récupération : {fr.percent(disclosure.renewable_share_pct)}.",
                     f"Contenu en CO₂ : {fr.number(disclosure.co2_g_per_kwh, 0)} g CO₂/kWh de chaleur livrée.",
                     f"Source : {disclosure.source}."] if disclosure else []),
        "portal": "Vos index mensuels, votre historique de consommation et vos factures sont disponibles dans votre "
                  "espace abonné. La consommation corrigée du climat rapporte chaque mois aux degrés-jours moyens du "
                  "réseau pour ce mois.",
    }


def _address(party: dict[str, Any]) -> str:
    street = ", ".join(x for x in (party["address_line1"], party.get("address_line2")) if x)
    return f"{street}, {party['postcode']} {party['city']}"


def _point(content: DocumentContent) -> list[list[str]]:
    buyer = content.invoice["buyer"]
    segments = (content.invoice["readings"] or {}).get("segments", [])
    meters = " puis ".join(dict.fromkeys(s["meter"] for s in segments)) or buyer.get("meter") or "—"
    powers = list(dict.fromkeys(Decimal(li["quantity"]) for li in content.lines if li["unit"] == "kW"))
    return [["Point de livraison", f"{buyer['delivery_point']} – {buyer.get('delivery_point_name') or ''}"],
            ["Catégorie tarifaire", buyer["category"]],
            ["Adresse de livraison", buyer.get("delivery_point_address") or "—"],
            ["Puissance souscrite", " puis ".join(f"{fr.number(kw)} kW" for kw in powers) or "—"],
            ["Compteur", meters], ["Opération", "Prestation de services : fourniture de chaleur"]]


def _readings(readings: dict[str, Any]) -> list[list[str]]:
    if not readings.get("start"):
        return []

    def day(at: str) -> str:
        return fr.day(datetime.fromisoformat(at))

    start, end = readings["start"], readings["end"]
    end_kind = READING_KIND_LABELS[end["kind"]]
    if readings.get("estimate_method"):
        end_kind += f" : {readings['estimate_method']}"
    rows = [["Index de début", day(start["at"]), fr.number(Decimal(start["index_kwh"]), 0),
             READING_KIND_LABELS[start["kind"]]],
            ["Index de fin", day(end["at"]), fr.number(Decimal(end["index_kwh"]), 0), end_kind]]
    for change in readings.get("meter_changes", []):
        old, new = fr.number(Decimal(change["old_final_kwh"]), 0), fr.number(Decimal(change["new_initial_kwh"]), 0)
        rows.append(["Remplacement du compteur", day(change["at"]), f"{old} → {new}",
                     f"{change['old_meter']} → {change['new_meter']}"])
    rollover = any(s.get("rollover") for s in readings.get("segments", []))
    rows.append(["Consommation", "", fr.number(Decimal(readings["consumption_kwh"]), 0),
                 "passage à zéro du compteur inclus" if rollover else ""])
    for other in readings.get("other_points", []):  # a contract covering several delivery points
        point = other["delivery_point"]
        rows += [[f"{point} : index de début", day(other["start"]["at"]),
                  fr.number(Decimal(other["start"]["index_kwh"]), 0), READING_KIND_LABELS[other["start"]["kind"]]],
                 [f"{point} : index de fin", day(other["end"]["at"]), fr.number(Decimal(other["end"]["index_kwh"]), 0),
                  READING_KIND_LABELS[other["end"]["kind"]]],
                 [f"{point} : consommation", "", fr.number(Decimal(other["consumption_kwh"]), 0), ""]]
    return rows


def _line(line: dict[str, Any]) -> dict[str, str]:
    unit = line["unit"]
    if line["kind"] == "reduction":
        quantity, price = "", ""
    elif unit == "forfait":
        quantity, price = fr.number(line["quantity"], 0), fr.eur(line["unit_price"])
    else:
        quantity = f"{fr.number(line['quantity'])} {unit}"
        price = f"{fr.number(line['unit_price'], 4)} {UNIT_PRICE_LABEL[unit]}"
        if line["prorata_label"]:
            price += f" × {line['prorata_label']}"
    return {"label": line["label"], "indexation": _indexation(line.get("details") or {}), "quantity": quantity,
            "price": price, "amount": fr.eur(line["amount_ht"]), "vat": fr.percent(line["vat_rate"].normalize())}


def _indexation(details: dict[str, Any]) -> str:
    """``Prix indexé : 62,35 × (0,15 + 0,85 × GAZ 09/2026 112,4 / 100) ; coefficient 1,1054``."""
    components = details.get("components")
    if not components:
        return ""
    terms = " + ".join(f"{fr.number(Decimal(c['weight']))} × {c['series']} "
                       f"{date.fromisoformat(c['month']):%m/%Y} {fr.number(Decimal(c['value']))} / "
                       f"{fr.number(Decimal(c['base_value']))}" for c in components)
    return (f"Prix indexé : {fr.number(Decimal(details['base_price']))} × ({fr.number(Decimal(details['fixed']))} + "
            f"{terms}) ; coefficient {fr.number(Decimal(details['coefficient']))} ; délibération "
            f"{details.get('deliberation', '')}")


def _payment(inv: dict[str, Any], seller: dict[str, Any], credit: bool) -> str:
    payment = inv["payment"]
    if payment["method"] == "sepa":
        iban = payment["iban"]
        masked = f"{iban[:4]} **** **** {iban[-4:]}"
        when = "Remboursement" if credit else f"Prélèvement SEPA le {fr.day(inv['due_date'])}"
        return (f"{when} sur le compte {masked} (BIC {payment['bic']}), mandat {payment['mandate_reference']} "
                f"signé le {fr.day(date.fromisoformat(payment['mandate_signed_on']))}. "
                f"Identifiant créancier SEPA : {seller['sepa_creditor_id']}.")
    if credit:
        return "Cet avoir sera déduit de votre prochaine facture ou remboursé par virement sur demande."
    iban = " ".join(seller["iban"][i:i + 4] for i in range(0, len(seller["iban"]), 4))
    return (f"À régler avant le {fr.day(inv['due_date'])} par virement à l'ordre du comptable public : IBAN {iban}, "
            f"BIC {seller['bic']}, référence {creditor_reference(inv['number'])} (facture {inv['number']}).")
