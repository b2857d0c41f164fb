"""What a bill run reads, in bulk, and the draft of one contract from it: tariffs, formulas and index
values, VAT periods, reductions, each network's policy, the delivery points' meters and boundary
readings, the previous billing (for regularisations) and the R2 already billed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from billing import store
from billing.compute import PriceCache, compute_draft
from billing.errors import ContractException
from billing.model import BilledR2, Contract, Draft, EstimationBasis, MeterInputs, Period, Policy
from billing.money import exact_ratio
from billing.periods import boundary

DegreeDays = Callable[[str, Period], Decimal | None]  # (network, period) -> DJU [K·day], None when unknown


@dataclass
class RunInputs:
    """Everything a run reads, in bulk."""

    policies: dict[str | None, Policy]
    tariffs: list[Any]
    formulas: list[Any]
    index_values: dict[Any, Any]
    vat_periods: list[Any]
    reductions: list[Any]
    previous: dict[int, Any]
    history: dict[int, list[tuple[date, date, Decimal]]]
    meters: dict[int, tuple[str, Decimal | None, list[Any]]]
    readings: dict[tuple[str, datetime], Any]
    point_codes: dict[int, str]
    billed_r2: dict[int, list[BilledR2]]

    @classmethod
    def read(cls, conn: psycopg.Connection, due: list[tuple[Contract, Period]], run_date: date) -> RunInputs:
        ids = [c.id for c, _ in due]
        points = {p for c, _ in due for p in c.points}
        meters = store.read_meters(conn, points)
        codes = sorted({code for code, _, changes in meters.values() for code in
                        [code, *(ch.old_meter for ch in changes), *(ch.new_meter for ch in changes)]})
        instants = sorted({boundary(d) for c, p in due for d in billed_bounds(c, p)})
        earliest = min((p.start for _, p in due), default=run_date)
        point_codes: dict[int, str] = dict(conn.execute("SELECT id, code FROM delivery_points WHERE id = ANY(%s)",
                                        (list(points),)).fetchall())
        return cls(store.read_policies(conn), store.read_tariffs(conn), store.read_formulas(conn),
                   store.read_index_values(conn), store.read_vat_periods(conn), store.read_reductions(conn),
                   store.read_previous_billing(conn, {c.id: billed_bounds(c, p)[0] for c, p in due}),
                   store.read_consumption_history(conn, ids, earliest - timedelta(days=400)),
                   meters, store.read_boundary_readings(conn, codes, instants), point_codes,
                   store.read_billed_r2(conn, ids))

    def policy(self, contract: Contract) -> Policy:
        """The contract's network's billing policy (the régie's default when the network has none)."""
        return self.policies.get(contract.network) or self.policies[None]

    def draft(self, contract: Contract, period: Period, run_date: date, degree_days: DegreeDays | None,
              cache: PriceCache | None = None) -> Draft:
        """The contract's invoice for ``period`` from these inputs.

        Raises:
            ContractException: what prevents an exact invoice (an item of the review list).
        """
        policy = self.policy(contract)
        if policy.estimation != "degree_days":
            degree_days = None
        main = self.meter_inputs(contract, period, degree_days)
        others = [(self.point_codes.get(p, str(p)), self.meter_inputs(contract, period, None, point=p))
                  for p in contract.extra_points]
        return compute_draft(contract, period, run_date, self.tariffs, self.formulas, self.index_values,
                             self.vat_periods, self.reductions, main, policy, cache, others,
                             self.billed_r2.get(contract.id, []))

    def meter_inputs(self, contract: Contract, period: Period, degree_days: DegreeDays | None,
                     point: int | None = None) -> MeterInputs:
        """The readings around ``period`` of one of the contract's delivery points (its main one by default;
        only the main one can be estimated from the contract's history)."""
        dp = contract.delivery_point_id if point is None else point
        code = self.point_codes.get(dp, "")
        if dp not in self.meters:
            raise ContractException("no_meter", f"aucun compteur n'est rattaché au point de livraison {code}".strip())
        current, capacity, changes = self.meters[dp]
        start_day, end_day = billed_bounds(contract, period)
        start_at, end_at = boundary(start_day), boundary(end_day)
        start = self.readings.get((store.meter_at(current, changes, start_at), start_at))
        end = self.readings.get((store.meter_at(current, changes, end_at), end_at))
        billed = Period(start_day, end_day)
        basis = (_estimation_basis(contract, billed, self.history.get(contract.id, []), degree_days)
                 if point is None else EstimationBasis())
        return MeterInputs(capacity, start, end, tuple(changes), self.previous.get(contract.id) if point is None
                           else None, basis)


def billed_bounds(contract: Contract, period: Period) -> tuple[date, date]:
    billed = period.intersect(contract.supplied) or period
    return billed.start, billed.end


def _estimation_basis(contract: Contract, period: Period, history: list[tuple[date, date, Decimal]],
                      degree_days: DegreeDays | None) -> EstimationBasis:
    """Same period a year earlier (from the contract's issued invoices) and its recent daily average."""
    last_year = Period(_year_before(period.start), _year_before(period.end))
    inside = [(s, e, kwh) for s, e, kwh in history if last_year.start <= s and e <= last_year.end]
    last_year_kwh = (sum((kwh for _, _, kwh in inside), Decimal(0))
                     if inside and sum((e - s).days for s, e, _ in inside) == last_year.days else None)
    recent = [(s, e, kwh) for s, e, kwh in history if e <= period.start][-3:]
    recent_days = sum((e - s).days for s, e, _ in recent)
    per_day = exact_ratio(sum((kwh for _, _, kwh in recent), Decimal(0)), Decimal(recent_days)) if recent_days else None
    dju = degree_days(contract.network, period) if degree_days and last_year_kwh is not None else None
    dju_before = degree_days(contract.network, last_year) if degree_days and last_year_kwh is not None else None
    return EstimationBasis(last_year_kwh, dju, dju_before, per_day)


def _year_before(day: date) -> date:
    return day.replace(year=day.year - 1, day=min(day.day, 28) if (day.month, day.day) == (2, 29) else day.day)
