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
from billing.errors import FieldError, ValidationError
from billing.issuing import issue_run
from billing.model import Period
from billing.money import round_to
from billing.periods import boundary
from billing.records import write_remote_readings
from billing.runs import IssueSummary, Progress, RunSummary, audit, billed_bounds, contracts_due, simulate_run
from regie_chaleur.services.weather import degree_days_source
from telemetry.queries import read_registers_at


@dataclass(frozen=True)
class BillResult:
    run: RunSummary
    issued: IssueSummary | None


def refresh_boundary_readings(conn: psycopg.Connection, month: date, contract_ids: Sequence[int] | None = None,
                              periods: Sequence[tuple[int, Period]] | None = None) -> int:
    """Store the remote readings of the boundaries of the run of ``month`` (or of ``periods``: delivery
    point id and days); returns how many were found."""
    if periods is None:
        periods = [(c.delivery_point_id, Period(*billed_bounds(c, p))) for c, p in contracts_due(conn, month,
                                                                                                    contract_ids)]
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
    refresh_boundary_readings(conn, month)
    summary = simulate_run(conn, month, actor=actor, run_date=run_date, degree_days=degree_days_source(conn),
                           progress=progress("simulate") if progress else None)
    issued = None
    if not simulate_only and summary.status == "simulated":
        issued = issue_with_documents(conn, summary.run_id, actor=actor, progress=progress, documents=documents,
                                      workers=workers)
    return BillResult(summary, issued)


def issue_with_documents(conn: psycopg.Connection, run_id: int, *, actor: str,
                         progress: Callable[[str], Progress] | None = None, documents: bool = True,
                         workers: int = 1) -> IssueSummary:
    """Issue a run, then generate and store the documents of its invoices (generated at issue)."""
    from regie_chaleur.services.documents import generate_run_documents

    issued = issue_run(conn, run_id, actor=actor, progress=progress("issue") if progress else None)
    if documents:
        generate_run_documents(conn, run_id, workers=workers, progress=progress("documents") if progress else None)
    return issued


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


def record_meter_change(conn: psycopg.Connection, delivery_point: str, at: datetime, old_final_kwh: Decimal,
                        new_meter: str, new_initial_kwh: Decimal, *, actor: str) -> None:
    """Replace a delivery point's meter at ``at``: the old meter's last index, the new one's first.

    The registry's delivery point moves to the new meter and billing records the change, in one
    transaction.

    Raises:
        ValidationError: unknown delivery point or meter, a meter already in service elsewhere, a negative
            index, an instant without time zone.
    """
    errors = []
    with conn.transaction():
        point = conn.execute("SELECT id, meter_id FROM delivery_points WHERE code = %s FOR UPDATE",
                             (delivery_point,)).fetchone()
        meter = conn.execute("SELECT m.id, dp.code FROM meters m LEFT JOIN delivery_points dp ON dp.meter_id = m.id "
                             "WHERE m.code = %s", (new_meter,)).fetchone()
        if point is None:
            errors.append(FieldError("delivery_point", f"point de livraison {delivery_point} inconnu"))
        elif point[1] is None:
            errors.append(FieldError("delivery_point", "aucun compteur en place à remplacer"))
        if meter is None:
            errors.append(FieldError("new_meter", f"compteur {new_meter} inconnu"))
        elif meter[1] is not None:
            errors.append(FieldError("new_meter", f"le compteur {new_meter} équipe déjà {meter[1]}"))
        if old_final_kwh < 0 or new_initial_kwh < 0:
            errors.append(FieldError("index", "un index ne peut être négatif"))
        if at.tzinfo is None:
            errors.append(FieldError("at", "l'instant du remplacement doit porter son fuseau"))
        if errors:
            raise ValidationError(errors)
        assert point is not None and meter is not None  # noqa: S101
        conn.execute("INSERT INTO meter_changes (delivery_point_id, at, old_meter_id, old_final_kwh, new_meter_id, "
                     "new_initial_kwh, by_whom) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                     (point[0], at, point[1], old_final_kwh, meter[0], new_initial_kwh, actor))
        conn.execute("UPDATE delivery_points SET meter_id = %s WHERE id = %s", (meter[0], point[0]))
        audit(conn, actor, "meter_replaced", "delivery_point", int(point[0]),
              {"at": at.isoformat(), "old_final_kwh": str(old_final_kwh), "new_meter": new_meter,
               "new_initial_kwh": str(new_initial_kwh)})
