"""Bank statements when the régie collects itself: a camt.053 with exact, partial, over- and unmatched
payments (by the RF reference, an invoice number, amount and payer), a debit skipped, a line assigned by
hand once; importing a file or its lines again changes nothing; property: an invoice's balance is always
its total − its credit notes − its payments, and no line is ever applied beyond its amount."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.bank import assign_line, import_statement, open_invoices, unmatched_lines
from billing.camt import Entry, build_statement
from billing.errors import BankError, NotFoundError, StateError
from billing.identifiers import creditor_reference
from billing.ledger import account_entries, aged_balance, aged_totals
from billing.retours import account_summary, invoice_balance
from tests.billing.support import ACTOR, iban

ACCOUNT = "FR7630001007941234567890185"
DAY = date(2026, 12, 1)
WHEN = datetime(2026, 12, 2, 7, tzinfo=UTC)


def due(conn: psycopg.Connection, number: str) -> tuple[int, Decimal]:
    row = conn.execute("SELECT id, total_ttc FROM invoices WHERE number = %s", (number,)).fetchone()
    assert row is not None
    return int(row[0]), Decimal(row[1])


def payments_of(conn: psycopg.Connection, invoice_id: int | None, subscriber: str | None = None) -> Decimal:
    if invoice_id is None:
        row = conn.execute("SELECT coalesce(sum(p.amount), 0) FROM payments p JOIN subscribers s "
                           "ON s.id = p.subscriber_id WHERE p.invoice_id IS NULL AND s.code = %s",
                           (subscriber,)).fetchone()
    else:
        row = conn.execute("SELECT coalesce(sum(amount), 0) FROM payments WHERE invoice_id = %s",
                           (invoice_id,)).fetchone()
    assert row is not None
    return Decimal(row[0])


def test_statement_lines_are_matched_or_queued(issued: psycopg.Connection) -> None:
    id1, ttc1 = due(issued, "FAC-2026-000001")  # 10,55 € credited already
    id2, ttc2 = due(issued, "FAC-2026-000002")
    id3, ttc3 = due(issued, "FAC-2026-000003")
    entries = [
        Entry(ttc1 - Decimal("10.55"), DAY, "ECOLE JEAN COCTEAU", reference=creditor_reference("FAC-2026-000001")),
        Entry(Decimal("50.00"), DAY, "SDC OPH-A", text="Reglement facture FAC-2026-000002 acompte"),
        Entry(ttc3 + Decimal("20.00"), DAY, "SDC OPH-B",
              text=f"virement {creditor_reference('FAC-2026-000003')[:4]} {creditor_reference('FAC-2026-000003')[4:]}"),
        Entry(Decimal("33.33"), DAY, "M. INCONNU", text="loyer decembre"),
        Entry(Decimal("12.00"), DAY, "BANQUE", credit=False, text="frais de tenue de compte"),
    ]
    content = build_statement(ACCOUNT, entries, "ST-1", WHEN)
    done = import_statement(issued, content, "releve-1.xml", actor=ACTOR)
    assert (done.already, done.lines, done.skipped) == (False, 4, 1)
    assert (done.matched, done.partial, done.overpaid, done.unmatched) == (1, 1, 1, 1)
    assert invoice_balance(issued, id1)["due"] == 0
    assert invoice_balance(issued, id2)["due"] == ttc2 - Decimal("50.00")
    assert invoice_balance(issued, id3)["due"] == 0
    assert payments_of(issued, None, "OPH-B") == Decimal("20.00")  # the overpayment, as a credit on the account
    waiting = unmatched_lines(issued)
    assert [(w["amount"], w["debtor_name"]) for w in waiting] == [(Decimal("33.33"), "M. INCONNU")]

    again = import_statement(issued, content, "releve-1-copie.xml", actor=ACTOR)
    assert again.already and again.lines == 0
    # the same entries in another file (a monthly statement repeating the daily one) add nothing
    monthly = build_statement(ACCOUNT, entries, "ST-1", datetime(2026, 12, 31, 7, tzinfo=UTC))
    repeated = import_statement(issued, monthly, "releve-mensuel.xml", actor=ACTOR)
    assert (repeated.already, repeated.lines, repeated.skipped) == (False, 0, 5)
    assert issued.execute("SELECT count(*), sum(amount) FROM payments").fetchone() == (
        4, ttc1 - Decimal("10.55") + Decimal("50.00") + ttc3 + Decimal("20.00"))

    # the waiting line, assigned by hand, once
    with pytest.raises(NotFoundError, match="FAC-2026-000099"):
        assign_line(issued, waiting[0]["id"], "FAC-2026-000099", actor=ACTOR)
    assert assign_line(issued, waiting[0]["id"], "fac-2026-000002", actor=ACTOR) == "partial"
    with pytest.raises(StateError, match="affecté à la main"):
        assign_line(issued, waiting[0]["id"], "FAC-2026-000002", actor=ACTOR)
    assert invoice_balance(issued, id2)["due"] == ttc2 - Decimal("83.33")


def test_amount_and_payer_match_only_without_doubt(issued: psycopg.Connection) -> None:
    id2, ttc2 = due(issued, "FAC-2026-000002")
    mandate_iban = iban(42)  # OPH-A's mandate
    content = build_statement(ACCOUNT, [
        Entry(ttc2, DAY, "QUELQU'UN D'AUTRE", text="paiement"),  # the right amount, an unknown payer
        Entry(ttc2, DAY, "TITULAIRE DU COMPTE", debtor_iban=mandate_iban, text="paiement chauffage"),
    ], "ST-2", WHEN)
    done = import_statement(issued, content, "releve-2.xml", actor=ACTOR)
    assert (done.matched, done.unmatched) == (1, 1)
    assert invoice_balance(issued, id2)["due"] == 0
    assert issued.execute("SELECT matched_by FROM bank_lines WHERE state = 'matched'").fetchone() == (
        "amount_payer",)


def test_unreadable_statements_are_refused_whole(issued: psycopg.Connection) -> None:
    good = build_statement("FR7630001007941234567890185", [
        Entry(Decimal("10.00"), date(2026, 12, 1), "X", text="chauffage")], "S-1", datetime(2026, 12, 2, tzinfo=UTC))
    broken = good.replace(b"<CdtDbtInd>CRDT</CdtDbtInd>", b"<CdtDbtInd>CREDIT</CdtDbtInd>", 1)
    for content, message in ((b"<a>", "relevé illisible"), (b"<Document xmlns='urn:x'/>", "camt.053"),
                             (broken, "non conforme au schéma ISO 20022 camt.053.001.02 : ligne \\d+ : .*CdtDbtInd")):
        with pytest.raises(BankError, match=message):
            import_statement(issued, content, "x.xml", actor=ACTOR)
    assert issued.execute("SELECT count(*) FROM bank_statements").fetchone() == (0,)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["FAC-2026-000001", "FAC-2026-000002", "FAC-2026-000003", None]),
                          st.decimals(min_value=Decimal("0.01"), max_value=Decimal("900"), places=2),
                          st.booleans()),
                min_size=1, max_size=8))
def test_balances_always_add_up(issued: psycopg.Connection, lines: list[tuple[str | None, Decimal, bool]]) -> None:
    with issued.transaction(force_rollback=True):
        entries = [Entry(amount, DAY, "PAYEUR", reference=creditor_reference(number) if number and by_ref else None,
                         text=f"facture {number}" if number and not by_ref else "sans reference")
                   for number, amount, by_ref in lines]
        for k in range(0, len(entries), 3):  # several files, some lines twice
            chunk = entries[k:k + 3] + entries[:1]
            import_statement(issued, build_statement(ACCOUNT, chunk, f"P-{k}", WHEN), f"p{k}.xml", actor=ACTOR)
        over = issued.execute("SELECT count(*) FROM bank_lines l WHERE (SELECT sum(amount) FROM payments p "
                              "WHERE p.line_id = l.id) <> l.amount").fetchone()
        assert over == (0,)  # a matched line is applied exactly, never beyond its amount
        for invoice_id, inv in open_invoices(issued).items():
            balance = invoice_balance(issued, invoice_id)
            total = issued.execute("SELECT total_ttc FROM invoices WHERE id = %s", (invoice_id,)).fetchone()[0]
            assert balance["due"] == inv["due"] == total - balance["credited"] - payments_of(issued, invoice_id)
            assert balance["due"] >= 0
        for (subscriber_id,) in issued.execute("SELECT id FROM subscribers").fetchall():
            entries = account_entries(issued, subscriber_id)
            billed = issued.execute(
                "SELECT coalesce(sum(total_ttc) FILTER (WHERE kind = 'invoice'), 0) - coalesce(sum(total_ttc) "
                "FILTER (WHERE kind = 'credit_note'), 0) FROM invoices WHERE subscriber_id = %s AND status = 'issued'",
                (subscriber_id,)).fetchone()[0]
            paid = issued.execute("SELECT coalesce(sum(amount), 0) FROM payments WHERE subscriber_id = %s",
                                  (subscriber_id,)).fetchone()[0]
            assert (entries[-1].balance if entries else 0) == billed - paid


def test_account_and_aged_balance(issued: psycopg.Connection) -> None:
    _, ttc3 = due(issued, "FAC-2026-000003")
    import_statement(issued, build_statement(ACCOUNT, [
        Entry(ttc3 + Decimal("20.00"), DAY, "SDC OPH-B", reference=creditor_reference("FAC-2026-000003"))],
        "ST-A", WHEN), "a.xml", actor=ACTOR)
    oph_b = issued.execute("SELECT id FROM subscribers WHERE code = 'OPH-B'").fetchone()[0]
    entries = account_entries(issued, oph_b)
    assert sorted((e.document or "", e.debit, e.credit) for e in entries) == [
        ("", 0, Decimal("20.00")), ("FAC-2026-000003", 0, ttc3), ("FAC-2026-000003", ttc3, 0)]
    assert [e.day for e in entries] == sorted(e.day for e in entries)
    assert entries[-1].balance == Decimal("-20.00")  # a credit the subscriber holds
    assert account_summary(issued, oph_b, DAY) == {"due": 0, "overdue": 0, "credit": Decimal("20.00")}

    _, ttc1 = due(issued, "FAC-2026-000001")
    id2, ttc2 = due(issued, "FAC-2026-000002")
    due_date = issued.execute("SELECT due_date FROM invoices WHERE id = %s", (id2,)).fetchone()[0]
    rows = {r["code"]: r for r in aged_balance(issued, due_date + timedelta(days=45))}
    assert set(rows) == {"ECOLE-JC", "OPH-A"}
    assert rows["OPH-A"]["d31_60"] == ttc2 and rows["OPH-A"]["total"] == ttc2 and not rows["OPH-A"]["public"]
    assert rows["ECOLE-JC"]["d31_60"] == ttc1 - Decimal("10.55") and rows["ECOLE-JC"]["public"]
    totals = aged_totals(list(rows.values()))
    assert totals["public"]["total"] == ttc1 - Decimal("10.55") and totals["private"]["total"] == ttc2
    assert totals["all"]["d31_60"] == ttc1 - Decimal("10.55") + ttc2
    assert {r["code"] for r in aged_balance(issued, due_date)} == {"ECOLE-JC", "OPH-A"}
    assert aged_balance(issued, due_date)[0]["not_due"] > 0
