"""Properties: totals always reconcile; numbering is gapless under concurrency with forced rollbacks; an
issued invoice cannot be changed by the application's database role; bad data for one contract never
blocks the others nor yields a partial invoice; an issued run issued again does nothing."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from billing.compute import compute_totals
from billing.issuing import issue_run
from billing.model import Line, Period
from billing.money import cents
from billing.numbering import take_numbers
from billing.runs import run_summary, simulate_run
from regie_chaleur.db.database import Database
from tests.billing.support import ACTOR, contract, remote, setup_billing, subscriber

OCT, NOV = date(2026, 10, 1), date(2026, 11, 1)
RATES = [Decimal("5.5"), Decimal("10"), Decimal("20")]
amount = st.decimals(min_value=Decimal("-5000"), max_value=Decimal("50000"), places=2, allow_nan=False,
                     allow_infinity=False)


@given(st.lists(st.tuples(amount, st.sampled_from(RATES)), min_size=1, max_size=40))
def test_totals_always_reconcile(lines: list[tuple[Decimal, Decimal]]) -> None:
    made = [Line("R1", "x", Decimal(1), "forfait", a, Decimal(1), "", a, r, Period(OCT, NOV)) for a, r in lines]
    totals = compute_totals(made)
    assert totals.total_ht == sum(a for a, _ in lines)
    assert totals.total_ttc == totals.total_ht + totals.total_vat
    assert totals.total_vat == sum(v.vat for v in totals.by_rate)
    for v in totals.by_rate:  # VAT once per rate, on the document's base at that rate (BR-CO-17)
        assert v.base == sum(a for a, r in lines if r == v.rate)
        assert v.vat == cents(v.base * v.rate / 100)
        assert abs(v.vat - v.base * v.rate / 100) <= Decimal("0.005")


@pytest.fixture
def conn(db: Database) -> Iterator[psycopg.Connection]:
    with db.pool.connection() as c:
        setup_billing(c, points=8)
        yield c


def test_numbering_gapless_under_50_concurrent_issues_with_rollbacks(db: Database) -> None:
    rng = random.Random(7)
    doomed = set(rng.sample(range(50), 5))  # 10 % of the transactions roll back after taking their number
    taken: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(50)

    def issue(i: int) -> None:
        try:
            with psycopg.connect(db.url) as conn:
                barrier.wait(30)
                with conn.transaction(force_rollback=i in doomed), conn.cursor() as cur:
                    (number,) = take_numbers(cur, "invoice", 2026, 1)
                    if i not in doomed:
                        taken.append(number)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=issue, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(taken) == [f"FAC-2026-{n:06d}" for n in range(1, 46)]
    with psycopg.connect(db.url) as conn:
        assert conn.execute("SELECT next_value FROM invoice_counters WHERE series = 'FAC-2026'").fetchone() == (46,)


def test_concurrent_runs_of_other_months_interleave_without_gaps(conn: psycopg.Connection, db: Database) -> None:
    for i in range(1, 9):
        subscriber(conn, f"ABO-{i}", i)
        contract(conn, f"POL-{i:04d}", f"ABO-{i}", f"PDL-{i:04d}", date(2026, 1, 1))
        for month, index in ((date(2026, 9, 1), 1000), (OCT, 2000), (NOV, 3500)):
            remote(conn, f"MTR-{i:04d}", month, str(index * i))
    runs = [simulate_run(conn, m, actor=ACTOR, run_date=date(2026, 11, 5)).run_id for m in (date(2026, 9, 1), OCT)]

    def issue(run_id: int) -> None:
        with psycopg.connect(db.url, autocommit=True) as c:
            issue_run(c, run_id, actor=ACTOR, chunk=1, now=datetime(2026, 11, 5, 9, tzinfo=UTC))

    threads = [threading.Thread(target=issue, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    numbers = sorted(r[0] for r in conn.execute("SELECT number FROM invoices WHERE status = 'issued'"))
    assert numbers == [f"FAC-2026-{n:06d}" for n in range(1, 17)]


@pytest.fixture
def app_role_url(db: Database) -> Iterator[str]:
    """The application's login role as ``regie-chaleur db app-role`` makes it (it owns nothing)."""
    from regie_chaleur.db.roles import grant_app_role

    role = f"regie_app_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(db.url, autocommit=True) as conn:
        grant_app_role(conn, role)
    params = conninfo_to_dict(db.url)
    yield make_conninfo(**{**params, "user": role})  # type: ignore[arg-type]
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_issued_invoice_cannot_be_changed_by_the_application_role(conn: psycopg.Connection, app_role_url: str
                                                                  ) -> None:
    subscriber(conn, "ABO-1")
    contract(conn, "POL-0001", "ABO-1", "PDL-0001", date(2025, 1, 1))
    remote(conn, "MTR-0001", OCT, "1000")
    remote(conn, "MTR-0001", NOV, "9000")
    issue_run(conn, simulate_run(conn, OCT, actor=ACTOR, run_date=date(2026, 11, 3)).run_id, actor=ACTOR)
    invoice_id = conn.execute("SELECT id FROM invoices WHERE status = 'issued'").fetchone()[0]  # type: ignore[index]
    with psycopg.connect(app_role_url, autocommit=True) as app:
        for statement in ("UPDATE invoices SET total_ht = 1, total_ttc = total_vat + 1 WHERE id = %s",
                          "DELETE FROM invoices WHERE id = %s",
                          "UPDATE invoice_lines SET amount_ht = 0 WHERE invoice_id = %s",
                          "DELETE FROM invoice_lines WHERE invoice_id = %s",
                          "UPDATE invoice_vat SET vat = 0 WHERE invoice_id = %s"):
            with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="émise"):
                app.execute(statement, (invoice_id,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # nor can it switch the guard off
            app.execute("ALTER TABLE invoices DISABLE TRIGGER invoices_immutable")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # append-only for it; a trigger for anyone
            app.execute("DELETE FROM billing_audit")
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation):
            app.execute("DELETE FROM billed_months")


def test_bad_data_of_one_contract_blocks_nothing_else(conn: psycopg.Connection) -> None:
    for i in range(1, 7):
        subscriber(conn, f"ABO-{i}", i)
    contract(conn, "POL-GOOD", "ABO-1", "PDL-0001", date(2025, 1, 1))
    contract(conn, "POL-NEG", "ABO-2", "PDL-0002", date(2025, 1, 1))  # register goes backwards
    contract(conn, "POL-JUMP", "ABO-3", "PDL-0003", date(2025, 1, 1))  # 1 GWh in a month on 137.5 kW
    contract(conn, "POL-NOSTART", "ABO-4", "PDL-0004", date(2025, 1, 1))  # no reading to start from
    contract(conn, "POL-NOTARIFF", "ABO-5", "PDL-0005", date(2025, 1, 1), category="equipement_public")
    contract(conn, "POL-NOEST", "ABO-6", "PDL-0006", date(2025, 1, 1))  # end missing, nothing to estimate from
    conn.execute("DELETE FROM tariffs WHERE category = 'equipement_public'")
    for meter, start, end in (("MTR-0001", "1000", "9000"), ("MTR-0002", "9000", "7000"),
                              ("MTR-0003", "1000", "999000"), ("MTR-0005", "1000", "2000")):
        remote(conn, meter, OCT, start)
        remote(conn, meter, NOV, end)
    remote(conn, "MTR-0004", NOV, "5000")
    remote(conn, "MTR-0006", OCT, "5000")
    summary = simulate_run(conn, OCT, actor=ACTOR, run_date=date(2026, 11, 3))
    blocking = {e.contract: e.code for e in summary.exceptions if e.blocking}
    assert blocking == {"POL-NEG": "negative_consumption", "POL-JUMP": "implausible_consumption",
                        "POL-NOSTART": "missing_start_reading", "POL-NOTARIFF": "no_tariff",
                        "POL-NOEST": "missing_reading"}
    assert summary.invoices == 1 and summary.contracts == 6
    drafts = conn.execute("SELECT c.number, i.total_ttc FROM invoices i JOIN contracts c ON c.id = i.contract_id "
                          "WHERE i.run_id = %s", (summary.run_id,)).fetchall()
    assert [d[0] for d in drafts] == ["POL-GOOD"]
    # no partial invoice: every draft has its lines and VAT, and they add up
    check = conn.execute(
        """SELECT bool_and(i.total_ht = (SELECT sum(amount_ht) FROM invoice_lines l WHERE l.invoice_id = i.id)
                           AND i.total_vat = (SELECT sum(vat) FROM invoice_vat v WHERE v.invoice_id = i.id))
           FROM invoices i WHERE i.run_id = %s""", (summary.run_id,)).fetchone()
    assert check == (True,)
    assert run_summary(conn, summary.run_id).blocking == 5
    # the review list is fixed (a reading entered, the tariff restored): the next run bills only those
    remote(conn, "MTR-0004", OCT, "1000")
    issue_run(conn, summary.run_id, actor=ACTOR)
    again = simulate_run(conn, OCT, actor=ACTOR, run_date=date(2026, 11, 4))
    assert again.run_id != summary.run_id
    assert again.invoices == 1  # POL-NOSTART; POL-GOOD is billed already
    assert {e.contract for e in again.exceptions if e.blocking} == {"POL-NEG", "POL-JUMP", "POL-NOTARIFF",
                                                                    "POL-NOEST"}


def test_issuing_an_issued_run_again_does_nothing(conn: psycopg.Connection) -> None:
    subscriber(conn, "ABO-1")
    contract(conn, "POL-0001", "ABO-1", "PDL-0001", date(2025, 1, 1))
    remote(conn, "MTR-0001", OCT, "1000")
    remote(conn, "MTR-0001", NOV, "9000")
    summary = simulate_run(conn, OCT, actor=ACTOR, run_date=date(2026, 11, 3))
    first = issue_run(conn, summary.run_id, actor=ACTOR)
    second = issue_run(conn, summary.run_id, actor=ACTOR)
    assert (first.issued, second.issued) == (1, 0)
    state = conn.execute("SELECT status, invoices, total_ttc FROM bill_runs WHERE id = %s",
                         (summary.run_id,)).fetchone()
    total = conn.execute("SELECT sum(total_ttc) FROM invoices WHERE run_id = %s", (summary.run_id,)).fetchone()
    assert state is not None and total is not None
    assert state[:2] == ("issued", 1) and state[2] == total[0]  # run total = Σ invoices
    nothing = simulate_run(conn, OCT, actor=ACTOR, run_date=date(2026, 11, 4))  # all billed: no new run
    assert (nothing.run_id, nothing.invoices, nothing.status) == (summary.run_id, 0, "nothing_due")
    assert f"tournée n° {summary.run_id} émise le" in nothing.message
    with pytest.raises(psycopg.errors.UniqueViolation):  # and the database refuses a second bill of a month
        conn.execute("INSERT INTO billed_months (contract_id, month, invoice_id) "
                     "SELECT contract_id, '2026-10-01', id FROM invoices WHERE run_id = %s", (summary.run_id,))
