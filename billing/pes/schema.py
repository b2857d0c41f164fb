"""Validation of PES V2 files against the DGFiP's schemas (v5.12, kept in ``xsd/`` beside this module)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lxml import etree

from billing.errors import PesError

XSD_DIR = Path(__file__).with_name("xsd") / "PES_V2"
ROOTS = {"aller": XSD_DIR / "Rev0" / "PES_Aller.xsd", "retour": XSD_DIR / "RETOUR" / "Rev0" / "PES_Retour.xsd"}


@cache
def _schema(kind: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(ROOTS[kind])))


def schema_errors(xml: bytes, kind: str = "aller") -> list[str]:
    """What makes this file invalid against the schema (line: message), empty when it is valid."""
    try:
        doc = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True,
                                                           huge_tree=True))
    except etree.XMLSyntaxError as exc:
        return [f"XML illisible : {exc}"]
    schema = _schema(kind)
    if schema.validate(doc):
        return []
    return [f"ligne {e.line} : {e.message}" for e in schema.error_log]  # type: ignore[attr-defined]


def validate(xml: bytes, kind: str = "aller") -> None:
    """Raise PesError naming every schema violation of this PES file."""
    errors = schema_errors(xml, kind)
    if errors:
        raise PesError("Fichier PES V2 non conforme au schéma de la DGFiP : " + " ; ".join(errors[:10])
                       + (f" (et {len(errors) - 10} autres)" if len(errors) > 10 else ""))
