"""Monthly instalments: a schedule that adds up to the expected amount to the cent, collected by pain.008
(FRST then RCUR, the same file for the same date), an instalment whose debit comes back counted as not
collected, the plan's invoices neither debited one by one nor reminded, and the yearly regularisation
applying what was collected to the year's invoices, oldest first, with the balance due or the refund
computed by hand here."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from lxml import etree

from billing.camt import Return, build_pain002
from billing.errors import StateError, ValidationError
from billing.exports.sepa import earliest_collection, export_sepa
from billing.instalments import collected_amount, create_plan, export_instalments, plans, regularise, schedule
from billing.ledger import account_entries
from billing.reminders import overdue_invoices
from billing.retours import account_summary
from billing.sepa_returns import import_returns
from tests.billing.support import ACTOR

NOV3 = date(2026, 11, 3)


def test_schedule_adds_up_to_the_cent() -> None:
    rows = schedule(Decimal("1000.00"), 12, date(2027, 1, 5))
    assert [a for _, a in rows] == [Decimal("83.33")] * 11 + [Decimal("83.37")]
    assert sum(a for _, a in rows) == Decimal("1000.00")
    assert [d for d, _ in rows][:3] == [date(2027, 1, 5), date(2027, 2, 5), date(2027, 3, 5)]
    assert rows[-1][0] == date(2027, 12, 5)
    rows = schedule(Decimal("0.10"), 3, date(2027, 11, 20))
    assert [a for _, a in rows] == [Decimal("0.03"), Decimal("0.03"), Decimal("0.04")]
    assert rows[-1][0] == date(2028, 1, 20)


def test_choice_is_checked(issued: psycopg.Connection) -> None:
    with pytest.raises(ValidationError) as caught:
        create_plan(issued, "OPH-A", period_start=date(2026, 10, 15), months=13, debit_day=30, actor=ACTOR,
                    today=NOV3)
    assert {e.field for e in caught.value.errors} == {"period_start", "months", "debit_day"}
    with pytest.raises(StateError, match="mandat SEPA"):  # the school pays by transfer
        create_plan(issued, "ECOLE-JC", period_start=date(2026, 10, 1), expected=Decimal("900"), actor=ACTOR,
                    today=NOV3)
    with pytest.raises(ValidationError, match="montant annuel"):  # nothing billed before October 2026
        create_plan(issued, "OPH-A", period_start=date(2026, 10, 1), actor=ACTOR, today=NOV3)
    # from November, the expected amount is October's invoice (less its credit notes: none for OPH-A)
    plan_id = create_plan(issued, "OPH-A", period_start=date(2026, 11, 1), months=4, actor=ACTOR, today=NOV3)
    fac2 = issued.execute("SELECT total_ttc FROM invoices WHERE number = 'FAC-2026-000002'").fetchone()[0]
    plan = plans(issued, None)[0]
    assert (plan["id"], plan["expected"], plan["basis"]) == (plan_id, fac2, "factures des douze mois précédents")
    assert sum(r[2] for r in plan["instalments"]) == fac2


def test_plan_collected_returned_then_regularised(issued: psycopg.Connection) -> None:
    fac2 = issued.execute("SELECT total_ttc, id, due_date FROM invoices WHERE number = 'FAC-2026-000002'").fetchone()
    late = fac2[2] + timedelta(days=20)
    # a plan from October 2026 over 3 months, 150 € expected: 50 € on 5 Oct., 5 Nov. and 5 Dec.
    plan_id = create_plan(issued, "OPH-A", period_start=date(2026, 10, 1), months=3, expected=Decimal("150.00"),
                          actor=ACTOR, today=date(2026, 10, 1))
    with pytest.raises(StateError, match="déjà mensualisé"):
        create_plan(issued, "OPH-A", period_start=date(2026, 10, 1), months=2, expected=Decimal("100"),
                    actor=ACTOR, today=date(2026, 10, 1))
    # its October invoice is not debited with the run, nor reminded while the plan runs
    export = export_sepa(issued, 1, earliest_collection(issued, 1) or NOV3, actor=ACTOR, today=NOV3)
    debited = {r[0] for r in issued.execute("SELECT invoice_id FROM sepa_export_items WHERE export_id = %s",
                                            (export.export_id,))}
    assert fac2[1] not in debited and debited  # OPH-B's invoice still is
    assert "FAC-2026-000002" not in {o.number for o in overdue_invoices(issued, late)}

    content, count, total = export_instalments(issued, date(2026, 11, 5), actor=ACTOR, today=date(2026, 11, 2))
    assert (count, total) == (2, Decimal("100.00"))  # the two instalments due by 5 November
    doc = etree.fromstring(content)
    ns = {"p": doc.nsmap[None]}
    assert doc.xpath("//p:DrctDbtTxInf/p:PmtId/p:EndToEndId/text()", namespaces=ns) == [f"ECH-{plan_id}-1",
                                                                                     f"ECH-{plan_id}-2"]
    # the mandate was never collected: FRST for the first, RCUR for the second in the same file
    assert doc.xpath("//p:SeqTp/text()", namespaces=ns) == ["FRST", "RCUR"]
    assert export_instalments(issued, date(2026, 11, 5), actor=ACTOR, today=date(2026, 11, 20))[0] == content
    with pytest.raises(StateError, match="aucune échéance"):
        export_instalments(issued, date(2026, 11, 30), actor=ACTOR, today=date(2026, 11, 20))

    # the second instalment's debit comes back (no funds): not collected, the account says why
    message = issued.execute("SELECT message_id FROM instalment_exports").fetchone()[0]
    reject = build_pain002(message, [Return(f"ECH-{plan_id}-2", "AM04", Decimal("50.00"), date(2026, 11, 8))],
                           "REJ-1", datetime(2026, 11, 8, 8, tzinfo=UTC))
    returned = import_returns(issued, reject, "rejet.xml", actor=ACTOR)
    assert (returned.recorded, returned.unknown) == (1, [])
    assert import_returns(issued, reject, "rejet.xml", actor=ACTOR).already
    assert collected_amount(issued, plan_id) == Decimal("50.00")
    subscriber_id = issued.execute("SELECT id FROM subscribers WHERE code = 'OPH-A'").fetchone()[0]
    entries = account_entries(issued, subscriber_id)
    assert [e.label for e in entries if e.label.startswith("Échéance")] == [
        "Échéance de mensualisation n° 1", "Échéance de mensualisation n° 2",
        "Échéance de mensualisation revenu impayé : provision insuffisante (AM04)"]
    assert entries[-1].balance == fac2[0] - Decimal("50.00")
    assert account_summary(issued, subscriber_id, NOV3)["credit"] == Decimal("50.00")

    # the third, in December: RCUR (a collection on the mandate went through)
    december, _, _ = export_instalments(issued, date(2026, 12, 5), actor=ACTOR, today=date(2026, 12, 1))
    assert etree.fromstring(december).xpath("//p:SeqTp/text()", namespaces=ns) == ["RCUR"]
    assert collected_amount(issued, plan_id) == Decimal("100.00")

    with pytest.raises(StateError, match="après la fin"):
        regularise(issued, plan_id, actor=ACTOR, today=date(2026, 12, 31))
    done = regularise(issued, plan_id, actor=ACTOR, today=date(2027, 1, 1))
    applied = min(fac2[0], Decimal("100.00"))
    assert (done.invoiced, done.collected, done.applied) == (fac2[0], Decimal("100.00"), applied)
    assert done.balance_due == fac2[0] - applied and done.to_refund == Decimal("100.00") - applied
    due = issued.execute("SELECT due FROM invoice_dues WHERE number = 'FAC-2026-000002'").fetchone()[0]
    assert due == fac2[0] - applied
    # the account's balance did not move: the instalments were already credited
    assert account_entries(issued, subscriber_id)[-1].balance == fac2[0] - Decimal("100.00")
    assert account_summary(issued, subscriber_id, NOV3)["credit"] == Decimal("100.00") - applied
    assert plans(issued, subscriber_id)[0]["status"] == "regularised"
    with pytest.raises(StateError, match="déjà régularisé"):
        regularise(issued, plan_id, actor=ACTOR, today=date(2027, 1, 2))
    # after the regularisation, what remains due is reminded again
    assert (done.balance_due > 0) == ("FAC-2026-000002" in {o.number for o in overdue_invoices(issued, late)})
