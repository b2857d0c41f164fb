"""The PES_Facture block of a PES_Aller: the ASAP (avis des sommes à payer) the DGFiP pushes to Chorus Pro
for the titres of public-sector debtors (Edition 02), from the DGFiP's schema v5.12
(``NS_Facture/r0``) and ``receivables-fr.md``:

- TypeFact 09 (ASAP); the issuer (``Emetteur``: the régie, TypTiers 20, with its SIRET); one
  ``FactureIndiv`` per titre: issue date, invoice number, the debtor (its SIRET, NatIdTiers 01, category
  and legal nature, TypTiers 01), the object, one line per VAT rate (amount excl. VAT as ``MtBase``,
  rate, VAT, total), the VAT detail, the total to pay, and ``RefTitre`` (exercice, bordereau, titre,
  line 1) tying it to the titre of the same file;
- payment terms and general conditions in French.

Not produced: the optical payment slip (``TalonOptique2Lignes``), whose two lines follow the DGFiP's HEL
standard, not in our references; the schema allows it to be absent.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from lxml import etree

from billing.pes.nodes import amount as _amount
from billing.pes.nodes import sub as _sub
from billing.pes.nodes import v as _v

if TYPE_CHECKING:
    from billing.pes.aller import Bordereau, Collectivite, Titre

NS_FACTURE = "http://www.minefi.gouv.fr/cp/helios/pes_v2/facture/r0/aller"
ASAP = "09"  # TypeFact
PAYMENT_TERMS = ("Paiement à réception par virement au comptable public, avec les références de l'avis ; "
                 "pour un débiteur public, mandatement selon les règles de la comptabilité publique.")
CONDITIONS = ("Titre de recettes exécutoire (article L.1617-5 du CGCT) : il peut être contesté devant la "
              "juridiction compétente dans les deux mois suivant sa réception.")


def add_pes_facture(root: etree._Element, coll: Collectivite, bordereaux: list[Bordereau], year: int,
                    built_on: str, issuer_category: str = "29", issuer_nature: str = "09") -> bool:
    """Append the PES_Facture of the Chorus Pro titres (those with a service code) of these ordinary
    bordereaux to ``root`` (a PES_Aller being built, before its PES_PJ); False when there is none."""
    chorus = [(b, t) for b in bordereaux if b.kind == "01" for t in b.titres if t.chorus_service]
    if not chorus:
        return False
    facture = etree.SubElement(root, "PES_Facture")
    _v(facture, "IdVer", "1")
    _v(facture, "Annee", str(year))
    _v(facture, "TypeFact", ASAP)
    _v(facture, "Date", built_on)
    emitter = _sub(facture, "Emetteur")
    info = _sub(emitter, "InfoTiers")
    _v(info, "IdTiers", coll.siret)
    _v(info, "NatIdTiers", "01")
    _v(info, "CatTiers", issuer_category)
    _v(info, "NatJur", issuer_nature)
    _v(info, "TypTiers", "20")
    _v(info, "Nom", coll.name[:38])
    for bordereau, titre in chorus:
        _facture(facture, bordereau, titre)
    _sub(facture, "Nomenclatures")
    return True


def _facture(parent: etree._Element, bordereau: Bordereau, titre: Titre) -> None:
    node = _sub(parent, "FactureIndiv")
    _v(node, "DateEmission", bordereau.issued_on.isoformat())
    _v(node, "NumeroFacture", titre.invoice_number[:50])
    debtor = _sub(node, "Debiteur")
    info = _sub(debtor, "InfoTiers")
    if titre.tiers.siret:
        _v(info, "IdTiers", titre.tiers.siret)
        _v(info, "NatIdTiers", "01")
    _v(info, "RefTiers", titre.tiers.reference[:30])
    _v(info, "CatTiers", titre.tiers.category)
    _v(info, "NatJur", titre.tiers.legal_nature)
    _v(info, "TypTiers", "01")
    _v(info, "Nom", titre.tiers.name[:38])
    address = _sub(debtor, "Adresse")
    _v(address, "TypAdr", "1")
    _v(address, "Adr2", titre.tiers.address_line1[:38])
    _v(address, "CP", titre.tiers.postcode[:5])
    _v(address, "Ville", titre.tiers.city[:38])
    _v(address, "CodRes", "0" if titre.tiers.country == "FR" else "1")
    _v(node, "Objet", titre.label[:160])
    total_ht = total_vat = Decimal(0)
    rates: dict[Decimal, list[Decimal]] = {}
    for order, line in enumerate(titre.lines, start=1):
        rate = line.vat_rate or Decimal(0)
        row = _sub(node, "LigneFacture")
        _v(row, "DateDebut", titre.period_start.isoformat())
        _v(row, "DateFin", titre.period_end.isoformat())
        _v(row, "Libelle", line.label[:200])
        _v(row, "MtBase", _amount(line.amount_ht))
        _v(row, "MtHT", _amount(line.amount_ht))
        _v(row, "TauxTVA", _amount(rate))
        _v(row, "MtTVA", _amount(line.amount_vat))
        _v(row, "MtTTC", _amount(line.amount_ht + line.amount_vat))
        _v(row, "Ordre", str(order))
        total_ht += line.amount_ht
        total_vat += line.amount_vat
        base, vat = rates.setdefault(rate, [Decimal(0), Decimal(0)])
        rates[rate] = [base + line.amount_ht, vat + line.amount_vat]
    for rate, (base, vat) in sorted(rates.items()):
        detail = _sub(node, "DetailTVA")
        _v(detail, "TauxTVA", _amount(rate))
        _v(detail, "MtBaseHT", _amount(base))
        _v(detail, "MtTVA", _amount(vat))
    total = _sub(node, "TotalAPayer")
    _v(total, "MtTotalHT", _amount(total_ht))
    _v(total, "MtTotalTVA", _amount(total_vat))
    _v(total, "MtTotalTTC", _amount(total_ht + total_vat))
    ref = _sub(node, "RefTitre")
    _v(ref, "Exercice", str(bordereau.exercice))
    _v(ref, "NumBordereau", str(bordereau.number))
    _v(ref, "NumTitre", str(titre.number))
    _v(ref, "NumLigne", "1")
    _v(node, "ModalitesReglement", PAYMENT_TERMS[:250])
    _v(node, "ConditionsGen", CONDITIONS[:250])
