"""Wires billing to telemetry (boundary readings), weather (degree days) and documents: bill runs, credits.

Billing never reads telemetry itself: before a run, :func:`refresh_boundary_readings` reads each due
meter's energy register at the period boundaries through telemetry's query (the good sample at or
just before the boundary, within the policy's window) and stores them as remote readings; degree days
for weather-corrected estimates come from :func:`regie_chaleur.services.weather.degree_days_source`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import psycopg

from billing import store
from billing.credit import CreditResult, credit_invoice
from billing.inputs import billed_bounds
from billing.issuing import issue_run
from billing.model import Contract, Period
from billing.money import round_to
from billing.periods import boundary
from billing.records import write_remote_readings
from billing.runs import IssueSummary, Progress, RunSummary, contracts_due, simulate_run
from regie_chaleur.services.weather import degree_days_source
from telemetry.queries import read_registers_at


@dataclass(frozen=True)
class BillResult:
    run: RunSummary
    issued: IssueSummary | None


def refresh_boundary_readings(conn: psycopg.Connection, month: date, contract_ids: Sequence[int] | None = None,
                              periods: Sequence[tuple[int, Period]] | None = None,
                              due: Sequence[tuple[Contract, Period]] | None = None) -> int:
    """Store the remote readings of the boundaries of the run of ``month`` (or of ``periods``: delivery
    point id and days; ``due``: the contracts due, when just read); returns how many were found."""
    if periods is None:
        periods = [(dp, Period(*billed_bounds(c, p)))
                   for c, p in (due if due is not None else contracts_due(conn, month, contract_ids))
                   for dp in c.points]
    if not periods:
        return 0
    meters = store.read_meters(conn, {dp for dp, _ in periods})
    devices: dict[str, int] = dict(conn.execute("SELECT code, device_id FROM meters WHERE device_id IS NOT NULL"
                                                ).fetchall())
    ids = {code: int(i) for code, i in conn.execute("SELECT code, id FROM meters").fetchall()}
    pairs: set[tuple[str, datetime]] = set()
    for dp, period in periods:
        if dp not in meters:
            continue
        current, _, changes = meters[dp]
        for day in (period.start, period.end):
            at = boundary(day)
            pairs.add((store.meter_at(current, changes, at), at))
    wanted = sorted((code, at) for code, at in pairs if code in devices)
    window = timedelta(hours=store.read_policy(conn).reading_window_hours)
    found = read_registers_at(conn, [devices[c] for c, _ in wanted], [at for _, at in wanted], window)
    rows = []
    for code, at in wanted:
        sample = found.get((devices[code], at))
        if sample is not None:
            rows.append((ids[code], at, round_to(Decimal(repr(sample[1])), Decimal("0.001")), sample[0]))
    return write_remote_readings(conn, rows) if rows else 0


def bill_month(conn: psycopg.Connection, month: date, *, actor: str, simulate_only: bool,
               run_date: date | None = None, progress: Callable[[str], Progress] | None = None,
               documents: bool = True, workers: int = 1) -> BillResult:
    """Refresh the boundary readings, simulate the run of ``month``, and issue it unless ``simulate_only``
    (with its documents unless ``documents`` is false).

    ``progress(stage)`` returns the progress callback of a stage (``simulate``, ``issue``, ``documents``).
    """
    due = contracts_due(conn, month, None)
    refresh_boundary_readings(conn, month, due=due)
    summary = simulate_run(conn, month, actor=actor, run_date=run_date, degree_days=degree_days_source(conn),
                           progress=progress("simulate") if progress else None, due=due)
    issued = None
    if not simulate_only and summary.status == "simulated":
        issued = issue_with_documents(conn, summary.run_id, actor=actor, progress=progress, documents=documents,
                                      workers=workers)
    return BillResult(summary, issued)


def issue_with_documents(conn: psycopg.Connection, run_id: int, *, actor: str,
                         progress: Callable[[str], Progress] | None = None, documents: bool = True,
                         workers: int = 1, now: datetime | None = None) -> IssueSummary:
    """Issue a run (dated ``now``, default the present), then generate and store the documents of its
    invoices."""
    from regie_chaleur.services.documents import generate_run_documents

    issued = issue_run(conn, run_id, actor=actor, progress=progress("issue") if progress else None, now=now)
    if documents:
        generate_run_documents(conn, run_id, workers=workers, progress=progress("documents") if progress else None)
    return issued


def issue_confirmed(conn: psycopg.Connection, run_id: int, invoices: int, total_ttc: Decimal, *, actor: str,
                    progress: Callable[[str], Progress] | None = None) -> IssueSummary:
    """Issue a simulated run as reviewed: ``invoices`` drafts for ``total_ttc`` [EUR]. Issuing an issued
    run does nothing.

    Raises:
        StateError: the run's drafts no longer match (simulated again since, or another run), with its
            figures.
    """
    from billing import fr
    from billing.errors import StateError
    from billing.runs import run_summary

    run = run_summary(conn, run_id)
    if run.status == "simulated" and (run.invoices, run.total_ttc) != (invoices, total_ttc):
        raise StateError(f"la tournée n° {run_id} compte {run.invoices} facture(s) pour {fr.eur(run.total_ttc)} TTC, "
                         f"pas {invoices} pour {fr.eur(total_ttc)} : la revoir avant d'émettre")
    return issue_with_documents(conn, run_id, actor=actor, progress=progress)


def credit(conn: psycopg.Connection, number: str, *, actor: str, reason: str,
           lines: dict[int, Decimal] | None = None, reissue: bool = False) -> CreditResult:
    """A credit note for an issued invoice; with ``reissue``, the corrected invoice from fresh readings."""
    if reissue:
        row = conn.execute("SELECT c.delivery_point_id, i.period_start, i.period_end FROM invoices i "
                           "JOIN contracts c ON c.id = i.contract_id WHERE i.number = %s", (number,)).fetchone()
        if row is not None:
            refresh_boundary_readings(conn, row[1], periods=[(row[0], Period(row[1], row[2]))])
    from regie_chaleur.services.documents import generate_for

    result = credit_invoice(conn, number, actor=actor, reason=reason, lines=lines, reissue=reissue,
                            degree_days=degree_days_source(conn))
    generate_for(conn, [n for n in (result.credit_note_number, result.corrected_invoice_number) if n])
    return result


def final_invoice(conn: psycopg.Connection, contract_number: str, *, actor: str, run_date: date | None = None,
                  documents: bool = True, now: datetime | None = None) -> BillResult:
    """The final invoice of an ended contract (moving out): the run of its end's month restricted to it,
    simulated and issued at once, with its document.

    Raises:
        NotFoundError: unknown contract.
        StateError: the contract has no end yet, its end is not past, or the month's run is in review (it
            holds the contract's draft: issue or discard it first).
    """
    from billing import fr
    from billing.errors import NotFoundError, StateError
    from billing.periods import PARIS

    row = conn.execute("SELECT id, end_date FROM contracts WHERE number = %s", (contract_number,)).fetchone()
    if row is None:
        raise NotFoundError(f"contrat {contract_number} inconnu")
    if row[1] is None:
        raise StateError(f"le contrat {contract_number} n'a pas de date de fin : le clore d'abord")
    today = run_date or datetime.now(PARIS).date()
    if row[1] >= today:
        raise StateError(f"le contrat {contract_number} court jusqu'au {fr.day(row[1])} : sa facture de fin se fait "
                         f"à partir du {fr.day(row[1] + timedelta(days=1))}")
    month = row[1].replace(day=1)
    review = conn.execute("SELECT id FROM bill_runs WHERE month = %s AND status = 'simulated'", (month,)).fetchone()
    if review is not None:
        raise StateError(f"la tournée n° {review[0]} de {fr.month(month)} est en revue : l'émettre ou l'abandonner "
                         "avant la facture de fin")
    refresh_boundary_readings(conn, month, [int(row[0])])
    summary = simulate_run(conn, month, actor=actor, run_date=today, degree_days=degree_days_source(conn),
                           contract_ids=[int(row[0])])
    issued = None
    if summary.status == "simulated" and summary.invoices:
        issued = issue_with_documents(conn, summary.run_id, actor=actor, documents=documents, now=now)
    return BillResult(summary, issued)
