"""PES V2 XML nodes: values as the attribute ``V``, amounts with two decimals, text in the SEPA set."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal

from lxml import etree


def sepa_text(text: str) -> str:
    """Text in the SEPA character set the schema allows (letters without accents, digits, / ? : ( ) . , ' + -)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^0-9a-zA-Z/?:().,' +-]", " ", plain).strip() or "-"


def amount(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'))}"


def sub(parent: etree._Element, tag: str) -> etree._Element:
    return etree.SubElement(parent, tag)


def v(parent: etree._Element, path: str, value: str | None) -> etree._Element:
    """A child (or a chain of them, ``A/B``) whose value is the attribute ``V`` (PES V2 style)."""
    node = parent
    for tag in path.split("/"):
        node = etree.SubElement(node, tag)
    if value is not None:
        node.set("V", value)
    return node
