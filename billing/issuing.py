"""Issuing a simulated run: its drafts numbered in the contracts' order, in transactions of ``chunk``
invoices; each takes its numbers from the series counter, marks the contract's months billed (a unique
index: a month is billed once), locks the index values and tariffs it used, and writes the audit trail.
Issuing an issued run does nothing; an interrupted issue resumes where it stopped."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg

from billing.errors import BillingError, NotFoundError, StateError
from billing.numbering import take_numbers
from billing.runs import PARIS, IssueSummary, Progress, audit

ISSUE_LOCK = 7341  # pg_advisory_lock(namespace, run id) held while a run is issued


def issue_run(conn: psycopg.Connection, run_id: int, *, actor: str, chunk: int = 1000,
              progress: Progress | None = None, now: datetime | None = None) -> IssueSummary:
    """Number and issue the drafts of a simulated run.

    Raises:
        NotFoundError: no such run.
    """
    if not conn.autocommit:
        raise BillingError("issue_run() needs an autocommit connection (it commits chunk by chunk)")
    row = conn.execute("SELECT status FROM bill_runs WHERE id = %s", (run_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"tournée de facturation {run_id} inconnue")
    conn.execute("SELECT pg_advisory_lock(%s, %s)", (ISSUE_LOCK, run_id))
    try:
        return _issue_locked(conn, run_id, actor, chunk, progress, now)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s, %s)", (ISSUE_LOCK, run_id))


def _issue_locked(conn: psycopg.Connection, run_id: int, actor: str, chunk: int, progress: Progress | None,
                  now: datetime | None) -> IssueSummary:
    drafts = conn.execute(
        """SELECT i.id FROM invoices i JOIN contracts c ON c.id = i.contract_id
           WHERE i.run_id = %s AND i.status = 'draft' ORDER BY c.number""", (run_id,)).fetchall()
    ids = [int(r[0]) for r in drafts]
    numbers: list[str] = []
    for part in _chunks(ids, chunk):
        with conn.transaction(), conn.cursor() as cur:
            numbers += issue_drafts(cur, part, actor, now or datetime.now(UTC))
        if progress is not None:
            progress(len(numbers), len(ids))
    with conn.transaction():
        status = conn.execute("SELECT status FROM bill_runs WHERE id = %s FOR UPDATE", (run_id,)).fetchone()
        if status is not None and status[0] != "issued":
            conn.execute(
                """UPDATE bill_runs SET status = 'issued', issued_at = now(), issued_by = %(actor)s,
                          invoices = (SELECT count(*) FROM invoices WHERE run_id = %(id)s AND status = 'issued'),
                          total_ht = (SELECT coalesce(sum(total_ht), 0) FROM invoices
                                      WHERE run_id = %(id)s AND status = 'issued'),
                          total_ttc = (SELECT coalesce(sum(total_ttc), 0) FROM invoices
                                       WHERE run_id = %(id)s AND status = 'issued')
                   WHERE id = %(id)s""", {"id": run_id, "actor": actor})
            audit(conn, actor, "issued", "bill_run", run_id, {"invoices": len(numbers)})
    return IssueSummary(run_id, len(numbers), numbers[0] if numbers else None, numbers[-1] if numbers else None)


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def issue_drafts(cur: psycopg.Cursor, ids: list[int], actor: str, now: datetime) -> list[str]:
    """Issue drafts (given in numbering order) inside the caller's transaction; returns their numbers.

    Raises:
        psycopg.errors.UniqueViolation: a month of one of the contracts was billed meanwhile.
    """
    if not ids:
        return []
    today = now.astimezone(PARIS).date()
    terms = cur.execute("SELECT payment_terms_days FROM billing_issuer").fetchone()
    due = today + timedelta(days=int(terms[0]) if terms else 30)
    numbers = take_numbers(cur, "invoice", today.year, len(ids))
    cur.execute(
        """UPDATE invoices i SET status = 'issued', number = v.number, issue_date = %(today)s, due_date = %(due)s,
                  issued_at = %(now)s, issued_by = %(actor)s
           FROM unnest(%(ids)s::bigint[], %(numbers)s::text[]) AS v(id, number)
           WHERE i.id = v.id AND i.status = 'draft'""",
        {"ids": ids, "numbers": numbers, "today": today, "due": due, "now": now, "actor": actor})
    if cur.rowcount != len(ids):
        raise StateError("des brouillons ont changé pendant l'émission ; relancer l'émission")
    cur.execute(
        """INSERT INTO billed_months (contract_id, month, invoice_id)
           SELECT i.contract_id, m::date, i.id FROM invoices i,
                  generate_series(date_trunc('month', i.period_start), i.period_end - 1, interval '1 month') m
           WHERE i.id = ANY(%s)""", (ids,))
    lock_used_values(cur, ids)
    cur.execute("""INSERT INTO billing_audit (actor, action, object_type, object_id, details)
                   SELECT %s, 'issued', 'invoice', v.id, jsonb_build_object('number', v.number)
                   FROM unnest(%s::bigint[], %s::text[]) AS v(id, number)""", (actor, ids, numbers))
    return numbers


def lock_used_values(cur: psycopg.Cursor, invoice_ids: list[int]) -> None:
    """Index values and tariffs used by these (now issued) invoices can never change again."""
    cur.execute(
        """UPDATE index_values v SET locked = true
           FROM (SELECT DISTINCT c ->> 'series' AS series, (c ->> 'month')::date AS month
                 FROM invoice_lines l, jsonb_array_elements(l.details -> 'components') c
                 WHERE l.invoice_id = ANY(%s) AND l.details ? 'components') u
           WHERE v.series = u.series AND v.month = u.month AND NOT v.locked""", (invoice_ids,))
    cur.execute("""UPDATE tariffs SET locked = true WHERE NOT locked AND id IN (
                       SELECT DISTINCT (details ->> 'tariff_id')::bigint FROM invoice_lines
                       WHERE invoice_id = ANY(%s) AND details ? 'tariff_id')""", (invoice_ids,))


