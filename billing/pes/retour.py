"""PES V2 Retour Recette: what the public accountant's Hélios says back about the régie's titres.

:func:`read_pes_retour` reads a ``PES_Retour`` file (validated against the DGFiP's schema first): per
titre, its state (EtatPce: 01 en instance, 02 pris en charge, 03 pris en charge partiellement,
04 rejeté, 05 annulé) with the accountant's observation, and per line the emargements
(EncaissementEmargement: origin OrgEma, date, amount) — payments (02, 03, 10 PayFiP...), write-offs
(06, admission en non-valeur), corrective titres (07).

:func:`build_pes_retour` writes such a file: the accountant's side, for the demonstration and the tests
(as the substation simulator is the devices' side).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from lxml import etree

from billing.errors import PesError
from billing.pes.schema import validate

NS_RETOUR = "http://www.minefi.gouv.fr/cp/helios/pes_v2/Rev0/retour"
STATES = {"01": "pending", "02": "taken", "03": "partial", "04": "rejected", "05": "cancelled"}
STATE_CODES = {v: k for k, v in STATES.items()}
#: origins of an emargement that are money received
PAYMENT_ORIGINS = frozenset({"01", "02", "03", "10", "11"})
ORIGIN_LABELS = {"01": "encaissement avant titre", "02": "encaissement", "03": "flux d'encaissement",
                 "04": "mandat correctif", "05": "mandat", "06": "admission en non-valeur", "07": "titre correctif",
                 "08": "titre", "09": "annulation de frais de poursuite", "10": "paiement en ligne (PayFiP)",
                 "11": "encaissement technique", "12": "divers"}


@dataclass(frozen=True)
class Emargement:
    origin: str  # OrgEma
    on: date  # DteReco
    amount: Decimal  # [€] MtReco


@dataclass(frozen=True)
class TitreStatus:
    exercice: int
    bordereau: int
    bordereau_kind: str  # TypBord: 01 ordinary, 02 reduction
    number: int  # IdPce
    state: str  # one of STATES' values
    reason: str | None  # ObsEtat
    on: date | None  # DtePcePec or DtePceRej
    emargements: tuple[Emargement, ...] = field(default_factory=tuple)  # over all its lines, file order


@dataclass(frozen=True)
class Retour:
    siret: str  # IdColl
    budget: str  # CodBud
    titres: tuple[TitreStatus, ...]


def read_pes_retour(xml: bytes) -> Retour:
    """The titres' states and emargements of a PES Retour file.

    Raises:
        PesError: the file is not a PES Retour valid against the schema, or has no recette part.
    """
    validate(xml, "retour")
    root = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    head = root.find("EnTetePES")
    recette = root.find("PES_RecetteRetour")
    if head is None or recette is None:
        raise PesError("fichier PES Retour sans partie recette (PES_RecetteRetour) : rien à lire")
    titres = []
    for bordereau in recette.iterfind("Bordereau"):
        block = bordereau.find("BlocBordereau")
        exercice, number, kind = int(_v(block, "Exer")), int(_v(block, "IdBord")), _v(block, "TypBord")
        for piece in bordereau.iterfind("Piece"):
            bloc = piece.find("BlocPiece")
            state = STATES[_v(bloc, "EtatPce")]
            when = _opt(bloc, "DtePceRej") if state == "rejected" else _opt(bloc, "DtePcePec")
            emargements = tuple(
                Emargement(_v(e, "OrgEma"), date.fromisoformat(_v(e, "DteReco")), Decimal(_v(e, "MtReco")))
                for e in piece.iterfind("LigneDePiece/EncaissementEmargement"))
            titres.append(TitreStatus(exercice, number, kind, int(_v(bloc, "IdPce")), state, _opt(bloc, "ObsEtat"),
                                      date.fromisoformat(when) if when else None, emargements))
    return Retour(_v(head, "IdColl"), _v(head, "CodBud"), tuple(titres))


def build_pes_retour(siret: str, cod_col: str, budget: str, id_post: str, titres: list[TitreStatus],
                     amounts: dict[tuple[int, int], Decimal], name: str, built_on: date) -> bytes:
    """A PES Retour Recette file (flux détaillé) for these titres; ``amounts`` gives each titre's amount
    [€] by (exercice, number) (what was paid, when missing)."""
    root = etree.Element(f"{{{NS_RETOUR}}}PES_Retour", nsmap={"n": NS_RETOUR})
    envelope = etree.SubElement(root, "Enveloppe")
    params = etree.SubElement(envelope, "Parametres")
    _set(params, "Version", "2")
    _set(params, "TypFic", "PESRETOUR")
    _set(params, "NomFic", name[:100])
    emitter = etree.SubElement(envelope, "Emetteur")
    _set(emitter, "Sigle", "DGFIP")
    _set(emitter, "Adresse", "Hélios")
    head = etree.SubElement(root, "EnTetePES")
    _set(head, "DteStr", built_on.isoformat())
    _set(head, "IdPost", id_post)
    _set(head, "IdColl", siret)
    _set(head, "CodColl", cod_col)
    _set(head, "CodBud", budget)
    recette = etree.SubElement(root, "PES_RecetteRetour")
    recette_head = etree.SubElement(recette, "EnTeteRecette")
    _set(recette_head, "TypRestit", "01")
    _set(recette_head, "IdVer", "2")
    _set(recette_head, "NatInf", "2")
    groups: dict[tuple[int, int, str], list[TitreStatus]] = {}
    for titre in titres:
        groups.setdefault((titre.exercice, titre.bordereau, titre.bordereau_kind), []).append(titre)
    for (exercice, number, kind), members in groups.items():
        bordereau = etree.SubElement(recette, "Bordereau")
        block = etree.SubElement(bordereau, "BlocBordereau")
        _set(block, "Exer", str(exercice))
        _set(block, "IdBord", str(number))
        _set(block, "TypBord", kind)
        for titre in members:
            piece = etree.SubElement(bordereau, "Piece")
            bloc = etree.SubElement(piece, "BlocPiece")
            _set(bloc, "IdPce", str(titre.number))
            _set(bloc, "TypPce", "01" if kind == "01" else "02")
            _set(bloc, "NatPce", "01" if kind == "01" else "06")
            if titre.state != "rejected" and titre.on:
                _set(bloc, "DtePcePec", titre.on.isoformat())
            _set(bloc, "EtatPce", STATE_CODES[titre.state])
            if titre.reason:
                _set(bloc, "ObsEtat", titre.reason[:100])
            if titre.state == "rejected" and titre.on:
                _set(bloc, "DtePceRej", titre.on.isoformat())
            line = etree.SubElement(piece, "LigneDePiece")
            line_block = etree.SubElement(line, "BlocLignePiece")
            info = etree.SubElement(line_block, "InfoLignePiece")
            _set(info, "IdLigne", "1")
            paid = sum((e.amount for e in titre.emargements), Decimal(0))
            amount = amounts.get((titre.exercice, titre.number), paid)
            _set(info, "EtatLigPce", {"rejected": "01", "cancelled": "02", "pending": "03"}.get(
                titre.state, "05" if paid >= amount else "04"))
            _set(info, "MtHT", f"{amount:.2f}")
            for e in titre.emargements:
                node = etree.SubElement(line, "EncaissementEmargement")
                _set(node, "OrgEma", e.origin)
                _set(node, "DteReco", e.on.isoformat())
                _set(node, "MtReco", f"{e.amount:.2f}")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _v(node: etree._Element | None, tag: str) -> str:
    found = node.find(tag) if node is not None else None
    value = found.get("V") if found is not None else None
    if value is None:
        raise PesError(f"élément {tag} absent du fichier PES Retour")
    return value


def _opt(node: etree._Element | None, tag: str) -> str | None:
    found = node.find(tag) if node is not None else None
    return found.get("V") if found is not None else None


def _set(parent: etree._Element, tag: str, value: str) -> None:
    etree.SubElement(parent, tag).set("V", value)
