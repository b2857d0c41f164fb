"""Direct debits that come back, when the régie collects itself: a pain.002 reject and camt.054 returns of
common reason codes put the invoice back to unpaid with the reason in French, suspend the mandate when the
code says so, and make the mandate's next collection a first one again; a file or a return is recorded
once; the collection's credit on the statement is recognised; the account shows debits and returns."""

from __future__ import annotations

from datetime import UTC, date, datetime

import psycopg
import pytest

from billing.bank import import_statement
from billing.camt import Entry, Return, build_camt054, build_pain002, build_statement
from billing.errors import BankError
from billing.exports.sepa import earliest_collection, export_sepa
from billing.ledger import account_entries
from billing.retours import invoice_balance
from billing.runs import simulate_run
from billing.sepa_returns import import_returns, returns_of
from regie_chaleur.services.billing import issue_with_documents
from tests.billing.support import ACTOR, remote

ACCOUNT = "FR7630001007941234567890185"
WHEN = datetime(2027, 1, 20, 7, tzinfo=UTC)


def invoice(conn: psycopg.Connection, number: str) -> tuple[int, object]:
    row = conn.execute("SELECT id, total_ttc FROM invoices WHERE number = %s", (number,)).fetchone()
    assert row is not None
    return int(row[0]), row[1]


def test_returns_put_invoices_back_and_suspend_mandates(issued: psycopg.Connection) -> None:
    run_id = issued.execute("SELECT id FROM bill_runs WHERE month = '2026-10-01'").fetchone()[0]
    on = earliest_collection(issued, run_id)
    assert on is not None
    export = export_sepa(issued, run_id, on, actor=ACTOR, today=on)
    assert (export.payments, export.first) == (2, 2)
    id2, ttc2 = invoice(issued, "FAC-2026-000002")
    id3, ttc3 = invoice(issued, "FAC-2026-000003")
    assert invoice_balance(issued, id2)["due"] == 0 == invoice_balance(issued, id3)["due"]  # debited

    # the collection's credit on the statement is the debits' money: recognised, nothing queued
    credit = import_statement(issued, build_statement(ACCOUNT, [
        Entry(export.total, on, "REMISE PRELEVEMENTS", text=f"REMISE SDD {export.message_id}")], "ST-R", WHEN),
        "releve.xml", actor=ACTOR)
    assert (credit.matched, credit.unmatched) == (1, 0)
    assert issued.execute("SELECT count(*) FROM payments").fetchone() == (0,)

    rejected = build_pain002(export.message_id, [Return("FAC-2026-000002", "AM04", ttc2, on)], "REJ-1", WHEN)
    done = import_returns(issued, rejected, "rejets.xml", actor=ACTOR)
    assert (done.already, done.recorded, done.suspended, done.unknown) == (False, 1, [], [])
    assert invoice_balance(issued, id2)["due"] == ttc2
    assert returns_of(issued, id2)[0]["label"] == "provision insuffisante"
    assert import_returns(issued, rejected, "rejets-copie.xml", actor=ACTOR).already

    returned = build_camt054(ACCOUNT, [Return("FAC-2026-000003", "AC04", ttc3, on),
                                       Return("FAC-2026-000099", "MS02", ttc3, on)], "NTF-1", WHEN)
    done = import_returns(issued, returned, "avis.xml", actor=ACTOR)
    assert (done.recorded, done.suspended) == (1, ["RUM-OPH-B-2026"])
    assert done.unknown == ["FAC-2026-000099 : aucun prélèvement connu sous cette référence (facture ou échéance)"]
    assert invoice_balance(issued, id3)["due"] == ttc3
    status = issued.execute("SELECT status, status_reason FROM sepa_mandates WHERE reference = 'RUM-OPH-B-2026'"
                            ).fetchone()
    assert status[0] == "suspended" and "AC04 : compte clôturé" in status[1] and "FAC-2026-000003" in status[1]
    # the same return in a later notification (another file) is not counted twice
    again = build_camt054(ACCOUNT, [Return("FAC-2026-000003", "AC04", ttc3, on)], "NTF-1", datetime(
        2027, 1, 21, 7, tzinfo=UTC))
    assert import_returns(issued, again, "avis-2.xml", actor=ACTOR).recorded == 0
    assert invoice_balance(issued, id3)["due"] == ttc3

    labels = [e.label for e in account_entries(issued, issued.execute(
        "SELECT id FROM subscribers WHERE code = 'OPH-A'").fetchone()[0])]
    assert "Prélèvement SEPA" in labels and "Prélèvement revenu impayé : provision insuffisante (AM04)" in labels

    # November: OPH-A's mandate, whose only collection came back, starts again with FRST; OPH-B's is left out
    for i in (1, 2, 3):
        remote(issued, f"MTR-000{i}", date(2026, 12, 1), str(500_000 + 9 * i))
    november = simulate_run(issued, date(2026, 11, 1), actor=ACTOR, run_date=date(2026, 12, 3))
    issue_with_documents(issued, november.run_id, actor=ACTOR, documents=False)
    next_on = earliest_collection(issued, november.run_id)
    assert next_on is not None
    second = export_sepa(issued, november.run_id, next_on, actor=ACTOR, today=next_on)
    assert (second.payments, second.first) == (1, 1)
    assert b"RUM-OPH-A-2026" in second.content and b"RUM-OPH-B-2026" not in second.content


def test_unreadable_return_files_are_refused(issued: psycopg.Connection) -> None:
    for content, message in ((b"<x", "illisible"), (b"<Document xmlns='urn:x'/>", "ni un compte rendu pain.002")):
        with pytest.raises(BankError, match=message):
            import_returns(issued, content, "x.xml", actor=ACTOR)
    incomplete = build_camt054(ACCOUNT, [Return("", "AC04", 1, date(2027, 1, 2))], "N", WHEN)  # type: ignore[arg-type]
    with pytest.raises(BankError, match=r"non conforme au schéma ISO 20022 camt\.054\.001\.02 : .*EndToEndId"):
        import_returns(issued, incomplete, "n.xml", actor=ACTOR)
    # pain.002.001.03, whose schema is not kept: read, and refused for what it lacks
    no_reason = build_pain002("MSG", [Return("FAC-2026-000002", "", 1, date(2027, 1, 2))], "R", WHEN)  # type: ignore[arg-type]
    with pytest.raises(BankError, match="référence de bout en bout, motif ou montant manquant"):
        import_returns(issued, no_reason, "r.xml", actor=ACTOR)
    assert issued.execute("SELECT count(*) FROM sepa_return_files").fetchone() == (0,)
