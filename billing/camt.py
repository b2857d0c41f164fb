"""Bank files written as a bank sends them (camt.053 statements, pain.002 rejects, camt.054 returns): the
bank's side, for the demonstration, the tests and the benchmark (as the substation simulator is the
devices' side). Reading is in :mod:`billing.bank` (with pycamt) and :mod:`billing.sepa_returns`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from lxml import etree

NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"


@dataclass(frozen=True)
class Entry:
    amount: Decimal  # [€]
    booked_on: date
    debtor_name: str
    debtor_iban: str | None = None
    reference: str | None = None  # structured creditor reference (SCOR), e.g. an ISO 11649 RF reference
    text: str | None = None  # unstructured remittance information
    credit: bool = True
    bank_ref: str | None = None  # AcctSvcrRef


def build_statement(account_iban: str, entries: list[Entry], statement_id: str, created: datetime,
                    opening: Decimal = Decimal(0)) -> bytes:
    """A camt.053 statement of ``account_iban`` with these entries (one transaction each), its opening
    balance ``opening`` [€] and the closing balance they lead to."""
    root = etree.Element(f"{{{NS}}}Document", nsmap={None: NS})  # type: ignore[dict-item]
    body = _sub(root, "BkToCstmrStmt")
    header = _sub(body, "GrpHdr")
    _sub(header, "MsgId", f"MSG-{statement_id}")
    _sub(header, "CreDtTm", created.strftime("%Y-%m-%dT%H:%M:%S"))
    statement = _sub(body, "Stmt")
    _sub(statement, "Id", statement_id)
    _sub(statement, "CreDtTm", created.strftime("%Y-%m-%dT%H:%M:%S"))
    _sub(_sub(_sub(statement, "Acct"), "Id"), "IBAN", account_iban)
    closing = opening + sum((e.amount if e.credit else -e.amount for e in entries), Decimal(0))
    day = max((e.booked_on for e in entries), default=created.date())
    for kind, value in (("OPBD", opening), ("CLBD", closing)):
        balance = _sub(statement, "Bal")
        _sub(_sub(_sub(balance, "Tp"), "CdOrPrtry"), "Cd", kind)
        _sub(balance, "Amt", f"{abs(value):.2f}").set("Ccy", "EUR")
        _sub(balance, "CdtDbtInd", "CRDT" if value >= 0 else "DBIT")
        _sub(_sub(balance, "Dt"), "Dt", day.isoformat())
    for n, entry in enumerate(entries, start=1):
        node = _sub(statement, "Ntry")
        amount = _sub(node, "Amt", f"{entry.amount:.2f}")
        amount.set("Ccy", "EUR")
        _sub(node, "CdtDbtInd", "CRDT" if entry.credit else "DBIT")
        _sub(node, "Sts", "BOOK")
        _sub(_sub(node, "BookgDt"), "Dt", entry.booked_on.isoformat())
        _sub(_sub(node, "ValDt"), "Dt", entry.booked_on.isoformat())
        _sub(node, "AcctSvcrRef", entry.bank_ref or f"{statement_id}-{n:06d}")
        domain = _sub(_sub(node, "BkTxCd"), "Domn")
        _sub(domain, "Cd", "PMNT")
        family = _sub(domain, "Fmly")
        _sub(family, "Cd", "RCDT" if entry.credit else "ICDT")
        _sub(family, "SubFmlyCd", "ESCT")
        tx = _sub(_sub(node, "NtryDtls"), "TxDtls")
        _sub(_sub(tx, "Refs"), "EndToEndId", "NOTPROVIDED")
        parties = _sub(tx, "RltdPties")
        _sub(_sub(parties, "Dbtr"), "Nm", entry.debtor_name[:70])
        if entry.debtor_iban:
            _sub(_sub(_sub(parties, "DbtrAcct"), "Id"), "IBAN", entry.debtor_iban)
        if entry.reference or entry.text:
            remittance = _sub(tx, "RmtInf")
            if entry.text:
                _sub(remittance, "Ustrd", entry.text[:140])
            if entry.reference:
                ref = _sub(_sub(remittance, "Strd"), "CdtrRefInf")
                _sub(_sub(_sub(ref, "Tp"), "CdOrPrtry"), "Cd", "SCOR")
                _sub(ref, "Ref", entry.reference)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    """A child in its parent's namespace, with its text."""
    node = etree.SubElement(parent, f"{{{etree.QName(parent).namespace}}}{tag}")
    node.text = text
    return node


@dataclass(frozen=True)
class Return:
    end_to_end: str  # the collection's end-to-end id (the invoice number)
    reason: str  # ISO 20022 reason code
    amount: Decimal  # [€]
    on: date


def build_pain002(original_message_id: str, returns: list[Return], message_id: str, created: datetime) -> bytes:
    """A pain.002.001.03 status report rejecting these collections of the pain.008 ``original_message_id``."""
    ns = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"
    root = etree.Element(f"{{{ns}}}Document", nsmap={None: ns})  # type: ignore[dict-item]
    report = _sub(root, "CstmrPmtStsRpt")
    header = _sub(report, "GrpHdr")
    _sub(header, "MsgId", message_id)
    _sub(header, "CreDtTm", created.strftime("%Y-%m-%dT%H:%M:%S"))
    original = _sub(report, "OrgnlGrpInfAndSts")
    _sub(original, "OrgnlMsgId", original_message_id)
    _sub(original, "OrgnlMsgNmId", "pain.008.001.02")
    info = _sub(report, "OrgnlPmtInfAndSts")
    _sub(info, "OrgnlPmtInfId", original_message_id)
    for n, r in enumerate(returns, start=1):
        tx = _sub(info, "TxInfAndSts")
        _sub(tx, "StsId", f"{message_id}-{n}")
        _sub(tx, "OrgnlEndToEndId", r.end_to_end)
        _sub(tx, "TxSts", "RJCT")
        _sub(_sub(_sub(tx, "StsRsnInf"), "Rsn"), "Cd", r.reason)
        _sub(_sub(_sub(tx, "OrgnlTxRef"), "Amt"), "InstdAmt", f"{r.amount:.2f}").set("Ccy", "EUR")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def build_camt054(account_iban: str, returns: list[Return], notification_id: str, created: datetime) -> bytes:
    """A camt.054.001.02 debit notification of these returned collections."""
    ns = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"
    root = etree.Element(f"{{{ns}}}Document", nsmap={None: ns})  # type: ignore[dict-item]
    body = _sub(root, "BkToCstmrDbtCdtNtfctn")
    header = _sub(body, "GrpHdr")
    _sub(header, "MsgId", notification_id)
    _sub(header, "CreDtTm", created.strftime("%Y-%m-%dT%H:%M:%S"))
    notification = _sub(body, "Ntfctn")
    _sub(notification, "Id", notification_id)
    _sub(notification, "CreDtTm", created.strftime("%Y-%m-%dT%H:%M:%S"))
    _sub(_sub(_sub(notification, "Acct"), "Id"), "IBAN", account_iban)
    for n, r in enumerate(returns, start=1):
        entry = _sub(notification, "Ntry")
        _sub(entry, "Amt", f"{r.amount:.2f}").set("Ccy", "EUR")
        _sub(entry, "CdtDbtInd", "DBIT")
        _sub(entry, "Sts", "BOOK")
        _sub(_sub(entry, "BookgDt"), "Dt", r.on.isoformat())
        _sub(entry, "AcctSvcrRef", f"{notification_id}-{n:05d}")
        domain = _sub(_sub(entry, "BkTxCd"), "Domn")
        _sub(domain, "Cd", "PMNT")
        family = _sub(domain, "Fmly")
        _sub(family, "Cd", "RDDT")
        _sub(family, "SubFmlyCd", "UPDD")  # unpaid direct debit
        tx = _sub(_sub(entry, "NtryDtls"), "TxDtls")
        _sub(_sub(tx, "Refs"), "EndToEndId", r.end_to_end)
        _sub(_sub(_sub(tx, "AmtDtls"), "TxAmt"), "Amt", f"{r.amount:.2f}").set("Ccy", "EUR")
        _sub(_sub(_sub(tx, "RtrInf"), "Rsn"), "Cd", r.reason)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
