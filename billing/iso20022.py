"""Validation of the bank's ISO 20022 files against the message schemas, before anything is read from
them: camt.053 statements and camt.054 notifications (versions 001.02 and 001.08), pain.002 status reports
(version 001.08). The schemas are ISO 20022's message definitions, kept in ``iso20022/`` beside this module
(origin in its README). A file in a version whose schema is not kept is read without this check (the
import says so)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lxml import etree

from billing.errors import BankError

XSD_DIR = Path(__file__).with_name("iso20022")
KEPT = ("camt.053.001.02", "camt.053.001.08", "camt.054.001.02", "camt.054.001.08", "pain.002.001.08")
PREFIX = "urn:iso:std:iso:20022:tech:xsd:"


@cache
def _schema(message: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_DIR / f"{message}.xsd")))


def message_of(content: bytes, what: str = "fichier") -> str | None:
    """The message and version a file declares (``camt.053.001.02``), from its namespace."""
    try:
        root = etree.fromstring(content, parser=etree.XMLParser(resolve_entities=False, no_network=True,
                                                                huge_tree=True))
    except etree.XMLSyntaxError as exc:
        raise BankError(f"{what} illisible : {exc}") from exc
    namespace = etree.QName(root).namespace or ""
    return namespace[len(PREFIX):] if namespace.startswith(PREFIX) else None


def check_schema(content: bytes, expected: tuple[str, ...], what: str = "fichier") -> bool:
    """Raise BankError naming what breaks the schema of the file's message; True when it was checked,
    False when its version's schema is not kept.

    Raises:
        BankError: unreadable, not one of the ``expected`` messages (e.g. ``("camt.053",)``), or invalid.
    """
    message = message_of(content, what)
    if message is None or not message.startswith(expected):
        raise BankError(f"ce fichier n'est pas un {what} ISO 20022 {' ou '.join(expected)}"
                        + (f" (c'est un {message})" if message else ""))
    if message not in KEPT:
        return False
    schema = _schema(message)
    doc = etree.fromstring(content, parser=etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    if schema.validate(doc):
        return True
    errors = [f"ligne {e.line} : {e.message}" for e in schema.error_log]  # type: ignore[attr-defined]
    raise BankError(f"fichier non conforme au schéma ISO 20022 {message} : " + " ; ".join(errors[:5])
                    + (f" (et {len(errors) - 5} autres)" if len(errors) > 5 else ""))
