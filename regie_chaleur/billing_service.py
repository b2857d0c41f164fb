"""Billing wired to the rest of the system.

Billing never reads telemetry itself: before a run, :func:`refresh_boundary_readings` reads each due
meter's energy register at the period boundaries through telemetry's query (the good sample at or
just before the boundary, within the policy's window) and stores them as remote readings; degree days
for weather-corrected estimates come from the imported weather observations, else from the network's
own outdoor sensors (daily minimum and maximum, COSTIC method).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import psycopg

from billing import store
from billing.credit import CreditResult, credit_invoice
from billing.errors import FieldError, ValidationError
from billing.model import Period
from billing.money import round_to
from billing.periods import add_months, boundary
from billing.records import write_remote_readings
from billing.runs import (
    DegreeDays,
    IssueSummary,
    Progress,
    RunSummary,
    audit,
    billed_bounds,
    contracts_due,
    issue_run,
    simulate_run,
)
from models.degree_days import daily_degree_days
from telemetry.queries import read_registers_at

DJU_PLACES = Decimal("0.1")


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


DJU_CACHE_S = 3600.0  # a past period's degree days do not change; the current one moves slowly
DJU_PREFETCH_MONTHS = 25  # read around a cache miss: 13 months and the same months a year earlier
_dju_cache: dict[tuple[str, str, Period], tuple[float, Decimal | None]] = {}


def degree_days_source(conn: psycopg.Connection, *, cached: bool = False) -> DegreeDays:
    """DJU [K·day] of a network over a period: weather observations first, else the network's outdoor
    sensors; None when fewer than 90 % of the period's days have temperatures.

    ``cached``: for display. A miss reads the daily temperatures of the :data:`DJU_PREFETCH_MONTHS`
    months before and after the period in one pass (a consumption chart asks for 13 months and the same
    months a year earlier; averaging a whole network's sensors reads every one of its devices' days)
    and keeps every month's value an hour in this process. Billing always reads afresh.
    """
    database = str(conn.info.dsn)

    def dju(network: str, period: Period) -> Decimal | None:
        if not cached:
            return _dju(conn, network, period)
        key = (database, network, period)
        kept = _dju_cache.get(key)
        if kept is not None and time.monotonic() - kept[0] < DJU_CACHE_S:
            return kept[1]
        first = add_months(period.start.replace(day=1), -DJU_PREFETCH_MONTHS)
        last = add_months(period.end.replace(day=1), DJU_PREFETCH_MONTHS)
        observed, sensors = _observed_days(conn, first, last), _sensor_days(conn, network, first, last)

        def value(p: Period) -> Decimal | None:
            found = _dju_of(observed, p)
            return found if found is not None else _dju_of(sensors, p)

        now = time.monotonic()
        _dju_cache[key] = (now, value(period))
        month = first
        while month < last:  # the months around it, for the next calls
            whole = Period(month, add_months(month, 1))
            if whole != period:
                _dju_cache[(database, network, whole)] = (now, value(whole))
            month = whole.end
        return _dju_cache[key][1]
    return dju


Days = dict[date, tuple[float, float]]  # day -> (minimum, maximum) outdoor temperature [°C]


def _observed_days(conn: psycopg.Connection, start: date, end: date) -> Days:
    """The weather observations' daily minimum and maximum over [start, end) (Europe/Paris days)."""
    rows = conn.execute(
        """SELECT (time AT TIME ZONE 'Europe/Paris')::date AS day, min(temperature), max(temperature)
           FROM weather_observations WHERE time >= %s AND time < %s GROUP BY 1""",
        (boundary(start), boundary(end))).fetchall()
    return {r[0]: (float(r[1]), float(r[2])) for r in rows}


def _sensor_days(conn: psycopg.Connection, network: str, start: date, end: date) -> Days:
    """The mean of the network's outdoor sensors' daily minimum and maximum over [start, end)."""
    rows = conn.execute(
        """SELECT d.day, avg(d.t_outdoor_min), avg(d.t_outdoor_max) FROM substation_daily d
           JOIN devices dv ON dv.id = d.device_id JOIN substations s ON s.id = dv.substation_id
           WHERE s.network = %s AND d.day >= %s AND d.day < %s AND d.t_outdoor_min IS NOT NULL
           GROUP BY d.day""", (network, start, end)).fetchall()
    return {r[0]: (float(r[1]), float(r[2])) for r in rows}


def _dju(conn: psycopg.Connection, network: str, period: Period) -> Decimal | None:
    """DJU [K·day] of ``network`` over ``period`` (see :func:`degree_days_source`): the sensors are
    read only when the observations fall short."""
    value = _dju_of(_observed_days(conn, period.start, period.end), period)
    return value if value is not None else _dju_of(_sensor_days(conn, network, period.start, period.end), period)


def _dju_of(days: Days, period: Period) -> Decimal | None:
    """DJU [K·day] over ``period`` from ``days`` when they cover 90 % of it, else None."""
    rows = [(day, *t) for day, t in days.items() if period.start <= day < period.end]
    if len(rows) < 0.9 * period.days:
        return None
    frame = pd.DataFrame(rows, columns=["day", "t_min", "t_max"])
    per_day = daily_degree_days(frame["t_min"], frame["t_max"])
    total = float(per_day.sum()) * period.days / len(rows)  # a missing day counts as the mean day
    return round_to(Decimal(repr(total)), DJU_PLACES)


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
    from regie_chaleur.documents_service import generate_run_documents

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
    from regie_chaleur.documents_service import generate_for

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
