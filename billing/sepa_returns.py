"""Direct debits that come back: the bank's pain.002 status reports (rejects before settlement) and camt.054
debit notifications (returns and refunds after it), when the régie collects itself.

Each return names the invoice (the end-to-end id of the collection is the invoice number) or the monthly
instalment (``ECH-<plan>-<n>``), its ISO 20022 reason code and amount. The invoice owes that amount again
(an instalment returned is not collected: the regularisation counts without it); the reason is shown in
French; the mandate is suspended when the code says the account or the mandate can no longer be used
(it is then left out of the next collections until billing staff look at it); and the mandate's next
collection is a first one (FRST) again when every collection it had came back. A file is read once, each
return once whatever file brings it again; a file in a version whose ISO 20022 schema is kept is
validated against it first.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import psycopg
from lxml import etree

from billing.errors import BankError
from billing.iso20022 import check_schema
from billing.runs import audit

#: ISO 20022 / EPC return reason codes, in French
REASONS = {
    "AC01": "IBAN erroné", "AC04": "compte clôturé", "AC06": "compte bloqué",
    "AG01": "prélèvement interdit sur ce compte", "AG02": "code opération erroné",
    "AM04": "provision insuffisante", "AM05": "prélèvement en double",
    "BE05": "créancier non reconnu", "CNOR": "banque du créancier injoignable",
    "DNOR": "banque du débiteur injoignable",
    "FF01": "fichier invalide", "MD01": "pas de mandat", "MD02": "mandat incomplet ou erroné",
    "MD06": "remboursement demandé par le débiteur", "MD07": "débiteur décédé", "MS02": "refus du débiteur",
    "MS03": "motif non communiqué par la banque", "RC01": "BIC erroné", "RR01": "identification du débiteur manquante",
    "RR02": "nom ou adresse du débiteur manquant", "RR03": "nom ou adresse du créancier manquant",
    "RR04": "motif réglementaire", "SL01": "service particulier de la banque du débiteur",
}
#: codes after which the mandate must not be used again as it is
SUSPENDING = frozenset({"AC01", "AC04", "AC06", "AG01", "MD01", "MD02", "MD07", "RC01"})


@dataclass(frozen=True)
class DebitReturn:
    end_to_end: str  # the invoice number the collection carried
    reason: str
    amount: Decimal  # [€]
    returned_on: date
    bank_ref: str  # unique per return


@dataclass(frozen=True)
class ReturnsImport:
    file_id: int
    already: bool
    recorded: int
    suspended: list[str]  # mandate references suspended by this file
    unknown: list[str]  # returns naming no collected invoice (French)


def read_returns(content: bytes, today: date) -> tuple[str, list[DebitReturn]]:
    """The kind of file (pain.002 or camt.054) and the returns it holds.

    Raises:
        BankError: neither a pain.002 nor a camt.054, or a return without its invoice, reason or amount.
    """
    try:
        root = etree.fromstring(content, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise BankError(f"fichier illisible : {exc}") from exc
    namespace = etree.QName(root).namespace or ""
    if "pain.002" in namespace:
        check_schema(content, ("pain.002",))
        return "pain.002", _pain002(root, today)
    if "camt.054" in namespace:
        check_schema(content, ("camt.054",))
        return "camt.054", _camt054(root)
    raise BankError("ce fichier n'est ni un compte rendu pain.002 ni un avis camt.054 (ISO 20022)")


def _local(node: etree._Element, path: str) -> list[etree._Element]:
    steps = "/".join(f"*[local-name()='{step}']" for step in path.split("/"))
    return node.xpath(f".//{steps}")  # type: ignore[return-value]


def _text(node: etree._Element, path: str) -> str | None:
    found = _local(node, path)
    return (found[0].text or "").strip() if found else None


def _pain002(root: etree._Element, today: date) -> list[DebitReturn]:
    message = _text(root, "GrpHdr/MsgId") or ""
    created = _text(root, "GrpHdr/CreDtTm")
    on = date.fromisoformat(created[:10]) if created else today
    out = []
    for n, tx in enumerate(_local(root, "TxInfAndSts"), start=1):
        if _text(tx, "TxSts") not in ("RJCT", None):
            continue
        out.append(_return(n, _text(tx, "OrgnlEndToEndId"), _text(tx, "StsRsnInf/Rsn/Cd"),
                           _text(tx, "OrgnlTxRef/Amt/InstdAmt") or _text(tx, "InstdAmt"), on,
                           f"pain.002/{message}/{_text(tx, 'OrgnlEndToEndId')}/{_text(tx, 'StsId') or n}"))
    return out


def _camt054(root: etree._Element) -> list[DebitReturn]:
    out = []
    for entry in _local(root, "Ntry"):
        booked = _text(entry, "BookgDt/Dt") or _text(entry, "BookgDt/DtTm") or ""
        for n, tx in enumerate(_local(entry, "TxDtls"), start=1):
            reason = _text(tx, "RtrInf/Rsn/Cd")
            if reason is None:
                continue  # a plain debit, not a return
            try:
                on = date.fromisoformat(booked[:10])
            except ValueError as exc:
                raise BankError(f"retour sans date de comptabilisation lisible : « {booked} »") from exc
            ref = _text(entry, "AcctSvcrRef") or _text(tx, "Refs/TxId") or ""
            out.append(_return(n, _text(tx, "Refs/EndToEndId"), reason, _text(tx, "Amt") or _text(entry, "Amt"), on,
                               f"camt.054/{ref}/{_text(tx, 'Refs/EndToEndId')}/{n}"))
    return out


def _return(n: int, end_to_end: str | None, reason: str | None, amount: str | None, on: date,
            bank_ref: str) -> DebitReturn:
    if not end_to_end or not reason or not amount:
        raise BankError(f"retour {n} : référence de bout en bout, motif ou montant manquant")
    try:
        value = Decimal(amount).quantize(Decimal("0.01"))
    except InvalidOperation as exc:
        raise BankError(f"retour {n} ({end_to_end}) : montant « {amount} » illisible") from exc
    return DebitReturn(end_to_end, reason.upper(), value, on, bank_ref)


def import_returns(conn: psycopg.Connection, content: bytes, name: str, *, actor: str,
                   today: date | None = None) -> ReturnsImport:
    """Record the returns of a pain.002 or camt.054 file (all or nothing, once per file and per return).

    Raises:
        BankError: the file cannot be read (nothing recorded).
    """
    kind, returns = read_returns(content, today or date.today())
    digest = hashlib.sha256(content).hexdigest()
    with conn.transaction():
        conn.execute("LOCK TABLE sepa_returns IN SHARE ROW EXCLUSIVE MODE")
        seen = conn.execute("SELECT id FROM sepa_return_files WHERE sha256 = %s", (digest,)).fetchone()
        if seen:
            return ReturnsImport(int(seen[0]), True, 0, [], [])
        collected = {r[0]: (int(r[1]), int(r[2]), r[3]) for r in conn.execute(
            "SELECT i.number, x.invoice_id, x.mandate_id, m.reference FROM sepa_export_items x "
            "JOIN invoices i ON i.id = x.invoice_id JOIN sepa_mandates m ON m.id = x.mandate_id "
            "WHERE i.number = ANY(%s)", ([r.end_to_end for r in returns],))}
        instalments = {f"ECH-{r[0]}-{r[1]}": (int(r[0]), int(r[1]), int(r[2]), r[3]) for r in conn.execute(
            "SELECT n.plan_id, n.seq, p.mandate_id, m.reference FROM instalments n "
            "JOIN instalment_plans p ON p.id = n.plan_id JOIN sepa_mandates m ON m.id = p.mandate_id "
            "WHERE n.export_id IS NOT NULL AND 'ECH-' || n.plan_id || '-' || n.seq = ANY(%s)",
            ([r.end_to_end for r in returns],))}
        known = {r[0] for r in conn.execute("SELECT bank_ref FROM sepa_returns WHERE bank_ref = ANY(%s) UNION "
                                            "SELECT bank_ref FROM instalment_returns WHERE bank_ref = ANY(%s)",
                                            ([r.bank_ref for r in returns], [r.bank_ref for r in returns]))}
        new = [r for r in returns if r.bank_ref not in known and r.end_to_end in collected]
        new_instalments = [r for r in returns if r.bank_ref not in known and r.end_to_end in instalments]
        unknown = [f"{r.end_to_end} : aucun prélèvement connu sous cette référence (facture ou échéance)"
                   for r in returns if r.end_to_end not in collected and r.end_to_end not in instalments]
        row = conn.execute("INSERT INTO sepa_return_files (name, kind, sha256, imported_by, content, returns) "
                           "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                           (name, kind, digest, actor, content, len(new) + len(new_instalments))).fetchone()
        assert row is not None  # noqa: S101
        file_id = int(row[0])
        suspended: list[str] = []
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO sepa_returns (file_id, bank_ref, invoice_id, mandate_id, reason, amount, returned_on) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [(file_id, r.bank_ref, *collected[r.end_to_end][:2], r.reason, r.amount, r.returned_on) for r in new])
            cur.executemany(
                "INSERT INTO instalment_returns (file_id, bank_ref, plan_id, seq, reason, amount, returned_on) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [(file_id, r.bank_ref, *instalments[r.end_to_end][:2], r.reason, r.amount, r.returned_on)
                 for r in new_instalments])
            mandates = {r.end_to_end: collected[r.end_to_end][1:] for r in new} | {
                r.end_to_end: instalments[r.end_to_end][2:] for r in new_instalments}
            for r in [*new, *new_instalments]:
                if r.reason in SUSPENDING:
                    mandate_id, reference = mandates[r.end_to_end]
                    what = f"facture {r.end_to_end}" if r.end_to_end in collected else f"échéance {r.end_to_end}"
                    cur.execute("UPDATE sepa_mandates SET status = 'suspended', status_reason = %s "
                                "WHERE id = %s AND status = 'active'",
                                (f"{r.reason} : {REASONS.get(r.reason, 'motif bancaire')} (retour du "
                                 f"{r.returned_on:%d/%m/%Y}, {what})", mandate_id))
                    if cur.rowcount:
                        suspended.append(reference)
        audit(conn, actor, "sepa_returns_imported", "sepa_return_file", file_id,
              {"name": name, "kind": kind, "returns": len(new) + len(new_instalments), "suspended": suspended,
               "unknown": len(unknown)})
    return ReturnsImport(file_id, False, len(new) + len(new_instalments), suspended, unknown)


def returns_of(conn: psycopg.Connection, invoice_id: int) -> list[dict[str, Any]]:
    return [{"reason": r[0], "label": REASONS.get(r[0], "motif bancaire"), "amount": r[1], "day": r[2]}
            for r in conn.execute("SELECT reason, amount, returned_on FROM sepa_returns WHERE invoice_id = %s "
                                  "ORDER BY returned_on, id", (invoice_id,))]
