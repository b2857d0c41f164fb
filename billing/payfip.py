"""Online payment of a titre through the DGFiP's PayFiP web service, when the régie subscribed to it.

The flow (the DGFiP's "PayFiP Titre" web service, SOAP 1.1):
1. ``creerPaiementSecurise`` with the collectivity's client number (``numcli``), the exercice, the debt
   reference (``refdet``, 1 to 30 letters and digits: here the invoice number without its hyphens),
   the amount in cents, the payer's e-mail, a label, the mode (``saisie``: T test, X activation,
   W production), the URL PayFiP notifies and the one it sends the payer back to: PayFiP answers with
   an operation id (``idOp``, valid 15 minutes);
2. the payer is sent to ``paiementws.web?idop=…`` and pays on the DGFiP's page;
3. ``recupererDetailPaiementSecurise`` for that ``idOp`` gives the result (``resultrans``: P or V paid,
   R or Z refused, A abandoned): a notification is never believed, the result is always asked.

The payment itself reaches the régie's accounts through the public accountant's PES Retour (an
encaissement of origin 10, PayFiP): the result recorded here only tells the subscriber it was taken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import psycopg
from lxml import etree

from billing.errors import FieldError, PayfipError, ValidationError
from billing.runs import audit

NS_SERVICE = ("http://securite.service.tpa.cp.finances.gouv.fr/services/mas_securite/"
              "contrat_paiement_securise/PaiementSecuriseService")
NS_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
RESULTS = {"P": "payé", "V": "payé", "R": "refusé", "Z": "refusé", "A": "abandonné"}
MODES = {"T": "test", "X": "activation", "W": "production"}


@dataclass(frozen=True)
class PayfipSettings:
    numcli: str  # the collectivity's PayFiP client number, 6 digits
    mode: str  # saisie: T, X or W
    service_url: str
    payment_url: str


def read_payfip(conn: psycopg.Connection) -> PayfipSettings | None:
    """The PayFiP settings, or None when the régie has no PayFiP client number."""
    row = conn.execute("SELECT numcli, mode, service_url, payment_url FROM payfip_settings").fetchone()
    return PayfipSettings(*row) if row and row[0] else None


def save_payfip(conn: psycopg.Connection, data: dict[str, Any], *, actor: str) -> None:
    """Set (or, with an empty client number, stop) online payment through PayFiP.

    Raises:
        ValidationError: every field that is wrong; nothing written.
    """
    numcli = str(data.get("numcli") or "").strip()
    mode = str(data.get("mode") or "T").strip().upper()
    urls = {k: str(data.get(k) or "").strip() for k in ("service_url", "payment_url")}
    errors = []
    if numcli and not re.fullmatch(r"[0-9]{6}", numcli):
        errors.append(FieldError("numcli", f"« {numcli} » invalide : 6 chiffres"))
    if mode not in MODES:
        errors.append(FieldError("mode", f"« {mode} » : T (test), X (activation) ou W (production)"))
    for key, value in urls.items():
        if value and not re.fullmatch(r"https?://[^\s]+", value):
            errors.append(FieldError(key, f"« {value} » n'est pas une adresse http(s)"))
    if errors:
        raise ValidationError(errors)
    with conn.transaction():
        conn.execute("UPDATE payfip_settings SET numcli = %s, mode = %s", (numcli or None, mode))
        for key, value in urls.items():
            if value:
                conn.execute(f"UPDATE payfip_settings SET {key} = %s", (value,))  # noqa: S608 (key is ours)
        audit(conn, actor, "payfip_settings_saved", "payfip_settings", None, {"numcli": numcli, "mode": mode})


def debt_reference(invoice_number: str) -> str:
    """``refdet``: the invoice number's letters and digits (``FAC-2026-000123`` → ``FAC2026000123``)."""
    return re.sub(r"[^A-Za-z0-9]", "", invoice_number)[:30]


def create_payment(settings: PayfipSettings, *, exercice: int, invoice_number: str, amount: Decimal, email: str,
                   label: str, notify_url: str, return_url: str, timeout_s: float = 10.0) -> str:
    """Ask PayFiP for a payment of ``amount`` [€]; returns its operation id (``idOp``).

    Raises:
        PayfipError: PayFiP unreachable, slow, or refusing (its fault text given).
    """
    body = _call(settings, "creerPaiementSecurise", {
        "exer": str(exercice), "mel": email, "montant": str(int((amount * 100).to_integral_value())),
        "numcli": settings.numcli, "objet": re.sub(r"[^A-Za-z0-9 ]", " ", label)[:100],
        "refdet": debt_reference(invoice_number), "saisie": settings.mode, "urlnotif": notify_url,
        "urlredirect": return_url}, timeout_s)
    idop = _field(body, "idOp")
    if not idop:
        raise PayfipError("PayFiP n'a pas donné d'identifiant d'opération")
    return idop


def payment_result(settings: PayfipSettings, idop: str, timeout_s: float = 10.0) -> dict[str, str]:
    """What PayFiP says of an operation: resultrans, montant (cents), refdet, exer, dattrans, heurtrans.

    Raises:
        PayfipError: PayFiP unreachable or refusing.
    """
    body = _call(settings, "recupererDetailPaiementSecurise", {"idOp": idop}, timeout_s)
    return {k: _field(body, k) for k in ("resultrans", "montant", "refdet", "exer", "dattrans", "heurtrans",
                                         "numauto", "idOp")}


def payment_page(settings: PayfipSettings, idop: str) -> str:
    """Where the payer pays."""
    return f"{settings.payment_url}?idop={idop}"


def _call(settings: PayfipSettings, operation: str, args: dict[str, str], timeout_s: float) -> etree._Element:
    envelope = etree.Element(f"{{{NS_SOAP}}}Envelope", nsmap={"soapenv": NS_SOAP, "pai": NS_SERVICE})
    etree.SubElement(envelope, f"{{{NS_SOAP}}}Header")
    call = etree.SubElement(etree.SubElement(envelope, f"{{{NS_SOAP}}}Body"), f"{{{NS_SERVICE}}}{operation}")
    arg0 = etree.SubElement(call, "arg0")
    for name, value in args.items():
        etree.SubElement(arg0, name).text = value
    try:
        response = httpx.post(settings.service_url, content=etree.tostring(envelope, xml_declaration=True,
                                                                           encoding="UTF-8"),
                              headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
                              timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise PayfipError(f"PayFiP injoignable ({type(exc).__name__})") from exc
    try:
        root = etree.fromstring(response.content, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise PayfipError(f"réponse de PayFiP illisible (HTTP {response.status_code})") from exc
    fault = root.find(f".//{{{NS_SOAP}}}Fault")
    if fault is not None:
        raise PayfipError(f"PayFiP refuse : {_field(fault, 'faultstring') or _field(fault, 'libelle') or 'erreur'}")
    if response.status_code != 200:
        raise PayfipError(f"PayFiP répond HTTP {response.status_code}")
    return root


def _field(node: etree._Element, name: str) -> str:
    """The text of the first element named ``name`` (whatever its namespace) under ``node``."""
    for element in node.iter():
        if isinstance(element.tag, str) and etree.QName(element).localname == name:
            return (element.text or "").strip()
    return ""
