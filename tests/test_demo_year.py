"""A year in the demonstration's data: the twelve monthly runs before this month, built from the simulated
history as ``regie-chaleur demo`` does, with the year's events each on the right invoice, and the year
reconciling (Σ invoices − Σ credit notes = Σ of the lines billed and their VAT)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from billing.instalments import collected_amount
from billing.periods import PARIS, add_months
from billing.pes.schema import schema_errors
from regie_chaleur.db.database import Database
from regie_chaleur.demo.network import substations
from regie_chaleur.demo.receivables import hand_over_runs, put_one_subscriber_on_instalments
from regie_chaleur.demo.setup import Progress, build_network, write_missing_history
from regie_chaleur.demo.year import CORRECTION, GLITCH_KWH, METER, OCCUPANT, VAT_DOWN, VAT_UP, bill_the_year

SUBSTATIONS = 8  # five in the centre network


def _invoice(conn: psycopg.Connection, point: str, start: date, kind: str = "invoice") -> list[dict[str, Any]]:
    cur = conn.execute(
        "SELECT i.* FROM invoices i JOIN contracts c ON c.id = i.contract_id JOIN delivery_points dp "
        "ON dp.id = c.delivery_point_id WHERE dp.code = %s AND i.period_start = %s AND i.kind = %s "
        "AND i.status = 'issued' ORDER BY i.id", (point, start, kind))
    rows = [dict(zip([c.name for c in cur.description or []], r, strict=True)) for r in cur.fetchall()]
    for row in rows:
        row["lines"] = [dict(kind=r[0], quantity=r[1], unit_price=r[2], amount=r[3], vat_rate=r[4], details=r[5])
                        for r in conn.execute("SELECT kind, quantity, unit_price, amount_ht, vat_rate, details "
                                              "FROM invoice_lines WHERE invoice_id = %s ORDER BY line_no",
                                              (row["id"],))]
    return rows


@pytest.mark.timeout(900)
def test_a_year_of_billing_through_the_events_of_a_regie(db: Database) -> None:
    subs = substations(SUBSTATIONS, 1)
    now = datetime.now(UTC)
    today = now.astimezone(PARIS).date()
    progress = Progress()
    with db.pool.connection() as conn:
        build_network(conn, subs, today)
        write_missing_history(conn, subs, now, progress)
    runs = bill_the_year(db, today, progress)
    first = add_months(today.replace(day=1), -12)
    months = [add_months(first, i) for i in range(12)]
    with db.pool.connection() as conn:
        points = [r[0] for r in conn.execute("SELECT dp.code FROM delivery_points dp JOIN substations s "
                                             "ON s.id = dp.substation_id WHERE s.network = 'centre' ORDER BY dp.code")]
        # twelve monthly runs, every contract of every month billed once
        assert len(runs) == 12
        for month in months:
            due = conn.execute("SELECT count(*) FROM contracts WHERE start_date < %s AND (end_date IS NULL "
                               "OR end_date >= %s)", (add_months(month, 1), month)).fetchone()[0]  # type: ignore[index]
            billed = conn.execute("SELECT count(DISTINCT contract_id) FROM billed_months WHERE month = %s "
                                  "AND released_by IS NULL", (month,)).fetchone()
            assert billed == (due,), month
        _january(conn, months, points[0])
        _renewable_share(conn, months, points[0])
        _occupant(conn, months[OCCUPANT], points[1])
        _meter(conn, months, points[2])
        _correction(conn, months[CORRECTION], points[3])
        _reconciles(conn)
    again = bill_the_year(db, today, progress)  # a restart bills nothing twice
    assert again == []
    _receivables(db, today, progress)


def _receivables(db: Database, today: date, progress: Progress) -> None:
    """Every run's titres handed to the accountant, taken in charge but one, most paid; once."""
    hand_over_runs(db, today, progress)
    hand_over_runs(db, today, progress)  # a restart sends nothing twice
    with db.pool.connection() as conn:
        last = conn.execute("SELECT id, invoices FROM bill_runs WHERE status = 'issued' ORDER BY month DESC LIMIT 1"
                            ).fetchone()
        documents, runs = conn.execute("SELECT count(*), count(DISTINCT run_id) FROM invoices "
                                       "WHERE status = 'issued'").fetchone()
        states = dict(conn.execute("SELECT t.state, count(*) FROM titres t JOIN invoices i ON i.id = t.invoice_id "
                                   "GROUP BY 1").fetchall())
        assert sum(states.values()) == documents and states["rejected"] == 1
        assert conn.execute("SELECT count(*) FROM pes_files").fetchone()[0] in (runs, runs + 1)  # + credit notes
        paid = conn.execute("SELECT count(*) FROM invoice_dues d JOIN invoices i ON i.id = d.invoice_id "
                            "WHERE i.run_id = %s AND d.due = 0", (last[0],)).fetchone()[0]
        assert 0 < paid < last[1]
        # earlier runs: paid on their due date, but one in forty
        unpaid, older = conn.execute("SELECT count(*) FILTER (WHERE d.due > 0), count(*) FROM invoice_dues d "
                                     "JOIN invoices i ON i.id = d.invoice_id WHERE i.run_id <> %s AND d.due_date <= %s",
                                     (last[0], today)).fetchone()
        assert 0 < unpaid <= older / 30
        for (content,) in conn.execute("SELECT content FROM pes_files"):
            assert schema_errors(bytes(content)) == []
    # one subscriber on monthly instalments from this month, its first debit rejected by its bank; once
    put_one_subscriber_on_instalments(db, today, progress)
    put_one_subscriber_on_instalments(db, today, progress)
    with db.pool.connection() as conn:
        plan = conn.execute("SELECT id, subscriber_id, expected_amount, period_start FROM instalment_plans").fetchall()
        assert len(plan) == 1 and plan[0][3] == today.replace(day=1)
        plan_id, subscriber_id, expected, start = plan[0]
        billed = conn.execute("SELECT sum(CASE kind WHEN 'invoice' THEN total_ttc ELSE -total_ttc END) FROM invoices "
                              "WHERE subscriber_id = %s AND status = 'issued' AND period_start >= %s",
                              (subscriber_id, add_months(start, -12))).fetchone()[0]
        assert expected == billed  # the expected amount: the twelve months before
        assert conn.execute("SELECT count(*) FROM instalments WHERE plan_id = %s", (plan_id,)).fetchone() == (12,)
        assert conn.execute("SELECT seq, reason FROM instalment_returns").fetchall() == [(1, "AM04")]
        assert collected_amount(conn, plan_id) == 0


def _january(conn: psycopg.Connection, months: list[date], point: str) -> None:
    january = next(m for m in months if m.month == 1)
    (before,) = _invoice(conn, point, add_months(january, -1)) if january != months[0] else [None]
    (after,) = _invoice(conn, point, january)
    tariff = after["lines"][0]["details"]["tariff_id"]
    voted = conn.execute("SELECT valid_from, deliberation FROM tariffs WHERE id = %s", (tariff,)).fetchone()
    assert voted == (january, f"CA-{january.year - 1}-41")
    ended = conn.execute("SELECT valid_to FROM tariffs WHERE category = 'logement_social' AND valid_from < %s "
                         "ORDER BY valid_from DESC LIMIT 1", (january,)).fetchone()
    assert ended == (january,)  # the open-ended version ends on 31 December by itself
    if before is not None:
        assert before["lines"][0]["details"]["tariff_id"] != tariff


def _renewable_share(conn: psycopg.Connection, months: list[date], point: str) -> None:
    rates = {}
    for i in (VAT_DOWN - 1, VAT_DOWN, VAT_UP - 1, VAT_UP):
        (inv,) = _invoice(conn, point, months[i])
        rates[i] = {li["vat_rate"] for li in inv["lines"] if li["kind"] == "R1"}
        assert {li["vat_rate"] for li in inv["lines"] if li["kind"].startswith("R2")} == {Decimal("5.50")}
    assert rates == {VAT_DOWN - 1: {Decimal("5.50")}, VAT_DOWN: {Decimal("20.00")}, VAT_UP - 1: {Decimal("20.00")},
                     VAT_UP: {Decimal("5.50")}}
    confluences = conn.execute("SELECT DISTINCT l.vat_rate FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id "
                               "JOIN contracts c ON c.id = i.contract_id JOIN delivery_points dp "
                               "ON dp.id = c.delivery_point_id JOIN substations s ON s.id = dp.substation_id "
                               "WHERE s.network = 'confluences' AND l.kind = 'R1'").fetchall()
    assert confluences == [(Decimal("5.50"),)]


def _occupant(conn: psycopg.Connection, month: date, point: str) -> None:
    leaving, arriving = conn.execute(
        "SELECT c.number, c.start_date, c.end_date, s.code FROM contracts c JOIN delivery_points dp "
        "ON dp.id = c.delivery_point_id JOIN subscribers s ON s.id = c.subscriber_id WHERE dp.code = %s "
        "ORDER BY c.start_date", (point,)).fetchall()
    fourteenth = month + timedelta(days=13)
    assert leaving[2] == fourteenth and arriving[1] == fourteenth + timedelta(days=1)
    assert arriving[3] == "COPRO-RENOUVEAU"
    (final, new) = _invoice(conn, point, month)[0], _invoice(conn, point, fourteenth + timedelta(days=1))[0]
    assert (final["period_start"], final["period_end"]) == (month, fourteenth + timedelta(days=1))
    assert final["issue_date"] == month + timedelta(days=19)  # issued on the 20th, before the month's run
    assert new["period_end"] == add_months(month, 1)
    assert final["readings"]["end"]["index_kwh"] == new["readings"]["start"]["index_kwh"]


def _meter(conn: psycopg.Connection, months: list[date], point: str) -> None:
    (replaced,) = _invoice(conn, point, months[METER])
    segments = replaced["readings"]["segments"]
    assert [s["meter"] for s in segments] == [segments[0]["meter"], segments[0]["meter"] + "-N"]
    change = conn.execute("SELECT at, old_final_kwh, new_initial_kwh FROM meter_changes").fetchone()
    assert change is not None and change[0].astimezone(PARIS).day == 10 and change[2] == 0
    assert Decimal(segments[0]["end_kwh"]) == change[1] and Decimal(segments[1]["start_kwh"]) == 0
    for month in months[METER:]:
        (inv,) = _invoice(conn, point, month)
        assert inv["readings"]["end"]["kind"] == "manual" and inv["readings"]["end"]["meter"].endswith("-N")


def _correction(conn: psycopg.Connection, month: date, point: str) -> None:
    original, corrected = _invoice(conn, point, month)
    (note,) = _invoice(conn, point, month, kind="credit_note")
    assert note["corrects_invoice_id"] == original["id"] and note["total_ttc"] == original["total_ttc"]
    assert corrected["readings"]["end"]["kind"] == "correction"
    r1 = {inv["number"]: sum(li["quantity"] for li in inv["lines"] if li["kind"] == "R1")
          for inv in (original, corrected)}
    assert r1[original["number"]] - r1[corrected["number"]] == GLITCH_KWH / 1000  # [MWh]
    assert corrected["total_ttc"] < original["total_ttc"]


def _reconciles(conn: psycopg.Connection) -> None:
    documents = conn.execute(
        "SELECT i.kind, i.total_ttc, (SELECT coalesce(sum(amount_ht), 0) FROM invoice_lines l "
        "WHERE l.invoice_id = i.id), (SELECT coalesce(sum(vat), 0) FROM invoice_vat v WHERE v.invoice_id = i.id) "
        "FROM invoices i "
        "WHERE i.status = 'issued'").fetchall()
    assert {kind for kind, *_ in documents} == {"invoice", "credit_note"}
    for _, ttc, lines, vat in documents:
        assert ttc == lines + vat
    issued = sum(ttc for kind, ttc, _, _ in documents if kind == "invoice")
    credited = sum(ttc for kind, ttc, _, _ in documents if kind == "credit_note")
    in_force = conn.execute("SELECT sum(total_ttc) FROM invoices i WHERE status = 'issued' AND kind = 'invoice' "
                            "AND NOT EXISTS (SELECT 1 FROM invoices n WHERE n.corrects_invoice_id = i.id)").fetchone()
    assert issued - credited == in_force[0] > 0  # type: ignore[index]  # every credit of the year is full
