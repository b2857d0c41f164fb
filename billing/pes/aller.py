"""PES V2 Aller Recette: the titres de recettes of the régie, as the public accountant's Hélios takes them.

Pure construction of the XML file (``PES_Aller`` with ``PES_RecetteAller`` and ``PES_PJ``) from plain
records; the structure and the code lists follow the DGFiP's schemas v5.12 (``xsd/`` beside this module)
and ``receivables-fr.md``:

- a bordereau of ordinary titres is TypBord 01 with pieces TypPce 01 / NatPce 01; a bordereau of
  reductions (credit notes) is TypBord 02 with pieces TypPce 02 / NatPce 06, each attached to the titre it
  reduces (``RattachPiece``);
- each titre carries its debtor (``Tiers``: category, legal nature, address, SIRET for public bodies), the
  SEPA direct-debit block when the subscriber pays by mandate (collected by the Trésor: NatPrel 01), and
  its invoice PDF as pièce justificative (``PJRef`` to a ``PES_PJ`` entry, gzip + base64);
- a public-sector debtor gets the Chorus Pro edition (Edition 02, with its service code and commitment
  number) and its ASAP in the file's ``PES_Facture`` block (:mod:`billing.pes.facture`); any other debtor
  an ASAP printed and posted by the DGFiP (Edition 01).

Amounts are euros with two decimals, strictly positive (a reduction titre carries the amount reduced).
"""

from __future__ import annotations

import base64
import gzip
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from lxml import etree

from billing.pes.facture import add_pes_facture
from billing.pes.nodes import amount as _amount
from billing.pes.nodes import sepa_text as _sepa_text
from billing.pes.nodes import sub as _sub
from billing.pes.nodes import v as _v

NS_ALLER = "http://www.minefi.gouv.fr/cp/helios/pes_v2/Rev0/aller"

ORDINARY = "01"  # TypBord of ordinary titres
REDUCTION = "02"  # TypBord of reductions and cancellations
PIECE_TYPES = {ORDINARY: ("01", "01"), REDUCTION: ("02", "06")}  # TypBord -> (TypPce, NatPce)
SEQUENCES = {"OOFF": "01", "FRST": "02", "RCUR": "03", "FNAL": "04"}  # SequencePres


@dataclass(frozen=True)
class Collectivite:
    """The ordonnateur's identifiers in Hélios (EnTetePES)."""

    name: str
    siret: str  # IdColl, 14 digits
    id_post: str  # the public accountant's codique (IdPost), 6 or 7 digits
    cod_col: str  # CodCol, 3 digits
    cod_bud: str  # CodBud, 2 characters (the budget of the heat service)
    product_code: str  # CodProdLoc of heat sales, up to 4 characters
    nature: str  # Nature: the revenue account of heat sales (e.g. 70613)
    accountant: str | None = None  # LibellePoste: the public accountant's office


@dataclass(frozen=True)
class Tiers:
    """The debtor of a titre."""

    reference: str  # RefTiers: the subscriber's code (≤ 30 characters)
    name: str
    category: str  # CatTiers: 01 person, 20-29 public bodies, 60-69 private companies...
    legal_nature: str  # NatJur: 01 individual, 03 company, 09 local authority...
    address_line1: str
    postcode: str
    city: str
    country: str = "FR"
    address_line2: str | None = None
    siret: str | None = None  # IdTiers with NatIdTiers 01 when given


@dataclass(frozen=True)
class DirectDebit:
    """A SEPA direct debit of the titre's amount by the Trésor (NatPrel 01)."""

    mandate_reference: str  # RUM
    signed_on: date
    collect_on: date
    amount: Decimal  # [€]
    sequence: str  # FRST, RCUR, OOFF or FNAL
    label: str


@dataclass(frozen=True)
class Line:
    """A line of a titre: the heat sold at one VAT rate."""

    label: str
    amount_ht: Decimal  # [€] > 0
    vat_rate: Decimal | None  # [%]; None without VAT (MtHT is then TTC)
    amount_vat: Decimal  # [€]


@dataclass(frozen=True)
class Attachment:
    """The invoice PDF sent as the titre's pièce justificative."""

    unique_id: str  # IdUnique (≤ 50 letters and digits), unique in the file
    file_name: str  # NomPJ
    content: bytes
    description: str = "Facture"


@dataclass(frozen=True)
class Titre:
    number: int  # IdPce (≤ 8 digits), sequential per exercice and budget
    label: str  # ObjPce (≤ 160 characters)
    invoice_number: str  # NumeroFacture (≤ 20 characters)
    period_start: date  # DebFact
    period_end: date  # FinFact (inclusive)
    tiers: Tiers
    lines: tuple[Line, ...]
    attachment: Attachment | None = None
    debit: DirectDebit | None = None
    chorus_service: str | None = None  # CodeService: Chorus Pro edition for public-sector debtors
    chorus_commitment: str | None = None  # NumeroEngagement
    reduces: tuple[int, int] | None = None  # (exercice, titre number) the reduction applies to


@dataclass(frozen=True)
class Bordereau:
    exercice: int
    number: int  # IdBord (≤ 7 digits), sequential per exercice, type and budget
    issued_on: date
    kind: str  # ORDINARY or REDUCTION
    titres: tuple[Titre, ...] = field(default_factory=tuple)

    @property
    def total_ht(self) -> Decimal:
        return sum((line.amount_ht for t in self.titres for line in t.lines), Decimal(0))

    @property
    def total_vat(self) -> Decimal:
        return sum((line.amount_vat for t in self.titres for line in t.lines), Decimal(0))


def build_pes_aller(coll: Collectivite, bordereaux: list[Bordereau], file_name: str, built_on: date,
                    sender: str = "regie-chaleur") -> bytes:
    """The PES_Aller file (UTF-8 XML) of these bordereaux with their pièces justificatives."""
    root = etree.Element(f"{{{NS_ALLER}}}PES_Aller", nsmap={"n": NS_ALLER})
    envelope = _sub(root, "Enveloppe")
    params = _sub(envelope, "Parametres")
    _v(params, "Version", "2")
    _v(params, "TypFic", "PESALR1")
    _v(params, "NomFic", file_name[:100])
    emitter = _sub(envelope, "Emetteur")
    _v(emitter, "Sigle", coll.name[:32])
    _v(emitter, "Adresse", sender[:38])
    head = _sub(root, "EnTetePES")
    _v(head, "DteStr", built_on.isoformat())
    _v(head, "IdPost", coll.id_post)
    if coll.accountant:
        _v(head, "LibellePoste", coll.accountant[:38])
    _v(head, "IdColl", coll.siret)
    _v(head, "CodCol", coll.cod_col)
    _v(head, "CodBud", coll.cod_bud)
    recette = _sub(root, "PES_RecetteAller")
    recette_head = _sub(recette, "EnTeteRecette")
    _v(recette_head, "IdVer", "2")
    _v(recette_head, "InfoDematerialisee", "0")
    attachments: list[Attachment] = []
    for bordereau in bordereaux:
        _bordereau(recette, coll, bordereau, attachments)
    add_pes_facture(root, coll, bordereaux, bordereaux[0].exercice if bordereaux else built_on.year,
                    built_on.isoformat())
    if attachments:
        pjs = _sub(root, "PES_PJ")
        _v(pjs, "EnTetePES_PJ/IdVer", "1")
        for attachment in attachments:
            pj = _sub(pjs, "PJ")
            fichier = _v(pj, "Contenu/Fichier", None)
            fichier.text = base64.b64encode(gzip.compress(attachment.content, mtime=0)).decode("ascii")
            fichier.set("MIMEType", "application/pdf")
            _v(pj, "IdUnique", attachment.unique_id[:50])
            _v(pj, "NomPJ", attachment.file_name[:100])
            _v(pj, "TypePJ", "002")
            _v(pj, "Description", attachment.description[:100])
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _bordereau(parent: etree._Element, coll: Collectivite, bordereau: Bordereau,
               attachments: list[Attachment]) -> None:
    node = _sub(parent, "Bordereau")
    block = _sub(node, "BlocBordereau")
    _v(block, "Exer", str(bordereau.exercice))
    _v(block, "IdBord", str(bordereau.number))
    _v(block, "DteBordEm", bordereau.issued_on.isoformat())
    _v(block, "TypBord", bordereau.kind)
    _v(block, "NbrPce", str(len(bordereau.titres)))
    _v(block, "MtBordHt", _amount(bordereau.total_ht))
    _v(block, "MtBordTVA", _amount(bordereau.total_vat))
    piece_type, piece_nature = PIECE_TYPES[bordereau.kind]
    for titre in bordereau.titres:
        piece = _sub(node, "Piece")
        bloc = _sub(piece, "BlocPiece")
        _v(bloc, "IdPce", str(titre.number))
        _v(bloc, "TypPce", piece_type)
        _v(bloc, "NatPce", piece_nature)
        _v(bloc, "Edition", "02" if titre.chorus_service else "01")
        _v(bloc, "ObjPce", titre.label[:160])
        _v(bloc, "DebFact", titre.period_start.isoformat())
        _v(bloc, "FinFact", titre.period_end.isoformat())
        if titre.attachment:
            ref = _sub(bloc, "PJRef")
            _v(ref, "Support", "01")
            _v(ref, "IdUnique", titre.attachment.unique_id[:50])
            _v(ref, "NomPJ", titre.attachment.file_name[:100])
            attachments.append(titre.attachment)
        _v(bloc, "NumeroFacture", titre.invoice_number[:20])
        if titre.chorus_commitment:
            _v(bloc, "NumeroEngagement", titre.chorus_commitment[:50])
        if titre.chorus_service:
            _v(bloc, "CodeService", titre.chorus_service[:100])
        for line_no, line in enumerate(titre.lines, start=1):
            _line(piece, coll, titre, line_no, line, bordereau.exercice)


def _line(piece: etree._Element, coll: Collectivite, titre: Titre, line_no: int, line: Line, exercice: int) -> None:
    node = _sub(piece, "LigneDePiece")
    bloc = _sub(node, "BlocLignePiece")
    info = _sub(bloc, "InfoLignePiece")
    _v(info, "IdLigne", str(line_no))
    _v(info, "ObjLignePce", line.label[:160])
    _v(info, "CodProdLoc", coll.product_code)
    _v(info, "Nature", coll.nature)
    if line.vat_rate is not None:
        _v(info, "TxTva", _amount(line.vat_rate))
    _v(info, "Majo", "0")
    _v(info, "TvaIntraCom", "0")
    _v(info, "MtHT", _amount(line.amount_ht))
    if line.vat_rate is not None:
        _v(info, "MtTVA", _amount(line.amount_vat))
    if titre.debit and line_no == 1:
        debit = _sub(bloc, "InfoPrelevementSEPA")
        _v(debit, "NatPrel", "01")
        _v(debit, "PerPrel", "07")
        _v(debit, "DtePrel", titre.debit.collect_on.isoformat())
        _v(debit, "MtPrel", _amount(titre.debit.amount))
        _v(debit, "SequencePres", SEQUENCES[titre.debit.sequence])
        _v(debit, "DateSignMandat", titre.debit.signed_on.isoformat())
        _v(debit, "RefUniMdt", _sepa_text(titre.debit.mandate_reference)[:35])
        _v(debit, "LibPrel", _sepa_text(titre.debit.label)[:140])
    if titre.reduces:
        attach = _sub(bloc, "RattachPiece")
        _v(attach, "NatPceOrig", "01")
        _v(attach, "ExerRat", str(titre.reduces[0]))
        _v(attach, "IdPceOrig", str(titre.reduces[1]))
        _v(attach, "IdLigneOrig", str(line_no))
    _tiers(node, titre.tiers)


def _tiers(parent: etree._Element, tiers: Tiers) -> None:
    node = _sub(parent, "Tiers")
    info = _sub(node, "InfoTiers")
    if tiers.siret:
        _v(info, "IdTiers", tiers.siret)
        _v(info, "NatIdTiers", "01")
    _v(info, "RefTiers", tiers.reference[:30])
    _v(info, "CatTiers", tiers.category)
    _v(info, "NatJur", tiers.legal_nature)
    _v(info, "TypTiers", "01")
    _v(info, "Nom", tiers.name[:38])
    address = _sub(node, "Adresse")
    _v(address, "TypAdr", "1")
    _v(address, "Adr2", tiers.address_line1[:38])
    if tiers.address_line2:
        _v(address, "Adr3", tiers.address_line2[:38])
    _v(address, "CP", tiers.postcode[:5])
    _v(address, "Ville", tiers.city[:38])
    _v(address, "CodRes", "0" if tiers.country == "FR" else "1")
