"""Invoices past due: the reminder schedule (15, 30, 45 days), recorded once per level and stopped by a
payment; late-payment interest at the policy's rate and the 40 € indemnity for professional debtors only
(C. com. L.441-10), computed by hand here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import psycopg
import pytest

from billing.bank import import_statement
from billing.camt import Entry, build_statement
from billing.errors import StateError
from billing.identifiers import creditor_reference
from billing.reminders import overdue_invoices, record_reminders
from tests.billing.support import ACTOR


def test_schedule_interest_and_indemnity(issued: psycopg.Connection) -> None:
    due_date, fac2 = issued.execute("SELECT due_date, total_ttc FROM invoices WHERE number = 'FAC-2026-000002'"
                                    ).fetchone()
    assert overdue_invoices(issued, due_date) == []  # not late on the due date itself
    day20 = due_date + timedelta(days=20)
    rows = {r.number: r for r in overdue_invoices(issued, day20)}
    assert set(rows) == {"FAC-2026-000001", "FAC-2026-000002", "FAC-2026-000003"}
    school, oph = rows["FAC-2026-000001"], rows["FAC-2026-000002"]
    assert (school.professional, school.interest, school.indemnity) == (False, 0, 0)  # a public body
    # a company: due × 12.15 % × 20 / 365, and 40 €
    expected = (fac2 * Decimal("12.15") / 100 * 20 / 365).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert (oph.professional, oph.days_late, oph.interest, oph.indemnity) == (True, 20, expected, Decimal("40.00"))
    assert (oph.level_sent, oph.next_level) == (0, 1)

    assert record_reminders(issued, ["FAC-2026-000002"], actor=ACTOR, today=day20) == 1
    with pytest.raises(StateError, match="FAC-2026-000002"):
        record_reminders(issued, ["FAC-2026-000002"], actor=ACTOR, today=day20)
    later = {r.number: r for r in overdue_invoices(issued, due_date + timedelta(days=31))}
    assert (later["FAC-2026-000002"].level_sent, later["FAC-2026-000002"].next_level) == (1, 2)
    assert later["FAC-2026-000003"].next_level == 2  # never reminded: the reminder now due is the second

    # paid: it leaves the list, the schedule stops
    import_statement(issued, build_statement("FR7630001007941234567890185", [
        Entry(fac2, day20, "OPH-A", reference=creditor_reference("FAC-2026-000002"))], "S",
        datetime(2027, 1, 1, tzinfo=UTC)), "s.xml", actor=ACTOR)
    assert "FAC-2026-000002" not in {r.number for r in overdue_invoices(issued, due_date + timedelta(days=50))}
