"""Unit commitment and dispatch as a MILP for ``scipy.optimize.milp`` (HiGHS).

Variables per plant i and hour t: heat q ≥ 0 [MW], on/off u ∈ {0,1}, start s and stop d ∈ [0,1];
storage charge, discharge [MW] and content [MWh]; unserved heat and dumped heat [MW].

- Pmin·u ≤ q ≤ Pavail·u (Pavail = 0 during outages); must-run: u = 1; must-take: q ≥ available heat
- s − d = u[t] − u[t−1] with the initial state, s ≤ u[t], d ≤ 1 − u[t]; ramps q[t] − q[t−1] ≤ R·u[t−1] + Pmax·s[t]
  and q[t−1] − q[t] ≤ R·u[t] + Pmax·d[t] (|Δq| ≤ R while running, relaxed on start and stop)
- minimum up time Σ s over the last UT hours ≤ u[t]; minimum down time Σ d over the last DT h ≤ 1 − u[t]
  (and the initial state's remaining up/down time honoured)
- content[t] = (1 − loss)·content[t−1] + η·charge − discharge/η; content[end] ≥ final (or initial)
- Σ q + discharge − charge + unserved − dump = demand
- cost = Σ marginal cost·q + start cost·s + penalty·unserved + dump cost·dump

The LP relaxation (integrality dropped) gives a lower bound, a fallback plan when the MILP finds no
solution in time, and the hourly marginal heat cost (the duals of the balance).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import LinearConstraint, linprog, milp
from scipy.sparse import coo_matrix

from models.planning.checker import plan_cost
from models.planning.system import Plan, PlanInputError, Plant, System


@dataclass
class _Layout:
    n_plants: int
    hours: int
    has_storage: bool

    def q(self, i: int, t: int) -> int:
        return (4 * i) * self.hours + t

    def u(self, i: int, t: int) -> int:
        return (4 * i + 1) * self.hours + t

    def s(self, i: int, t: int) -> int:
        return (4 * i + 2) * self.hours + t

    def d(self, i: int, t: int) -> int:
        return (4 * i + 3) * self.hours + t

    def base(self) -> int:
        return 4 * self.n_plants * self.hours

    def ch(self, t: int) -> int:
        return self.base() + t

    def dis(self, t: int) -> int:
        return self.base() + self.hours + t

    def soc(self, t: int) -> int:
        return self.base() + 2 * self.hours + t

    def unserved(self, t: int) -> int:
        return self.base() + 3 * self.hours + t

    def dump(self, t: int) -> int:
        return self.base() + 4 * self.hours + t

    @property
    def size(self) -> int:
        return self.base() + 5 * self.hours


class _Rows:
    """Sparse constraint rows grouped by family (for diagnosis)."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.vals: list[float] = []
        self.lo: list[float] = []
        self.hi: list[float] = []
        self.family: list[str] = []
        self.hour: list[int] = []

    def add(self, terms: dict[int, float], lo: float, hi: float, family: str, hour: int) -> int:
        r = len(self.lo)
        for c, v in terms.items():
            self.rows.append(r)
            self.cols.append(c)
            self.vals.append(v)
        self.lo.append(lo)
        self.hi.append(hi)
        self.family.append(family)
        self.hour.append(hour)
        return r

    def matrix(self, n: int, keep: np.ndarray | None = None) -> tuple[coo_matrix, np.ndarray, np.ndarray]:
        rows = np.asarray(self.rows)
        lo, hi = np.asarray(self.lo), np.asarray(self.hi)
        if keep is None:
            return coo_matrix((self.vals, (rows, self.cols)), shape=(len(lo), n)), lo, hi
        index = np.cumsum(keep) - 1
        mask = keep[rows]
        a = coo_matrix((np.asarray(self.vals)[mask], (index[rows[mask]], np.asarray(self.cols)[mask])),
                       shape=(int(keep.sum()), n))
        return a, lo[keep], hi[keep]


def _build(system: System) -> tuple[_Layout, np.ndarray, np.ndarray, np.ndarray, np.ndarray, _Rows]:
    """Objective, bounds, integrality and constraint rows of the model."""
    T = system.hours
    lay = _Layout(len(system.plants), T, system.storage is not None)
    n = lay.size
    cost = np.zeros(n)
    lb, ub = np.zeros(n), np.full(n, np.inf)
    integrality = np.zeros(n)
    rows = _Rows()
    for i, p in enumerate(system.plants):
        avail = system.available_mw(p)
        must_take = system.must_take(p)
        mc = system.marginal_cost(p)
        for t in range(T):
            q, u, s, d = lay.q(i, t), lay.u(i, t), lay.s(i, t), lay.d(i, t)
            cost[q], cost[s] = mc[t], p.start_cost
            ub[q], ub[u], ub[s], ub[d] = avail[t], 1.0, 1.0, 1.0
            integrality[u] = 1
            lb[q] = must_take[t]
            if p.must_run:
                lb[u] = 1.0
            rows.add({q: 1.0, u: -avail[t]}, -np.inf, 0.0, "capacity", t)
            rows.add({q: -1.0, u: min(p.min_load_mw, avail[t])}, -np.inf, 0.0, "minimum load", t)
            prev_u = 1.0 if p.initial_on else 0.0
            terms = {s: 1.0, d: -1.0, u: -1.0}
            if t > 0:
                terms[lay.u(i, t - 1)] = 1.0
                rows.add(terms, 0.0, 0.0, "start/stop", t)
            else:
                rows.add(terms, -prev_u, -prev_u, "start/stop", t)
            # a start needs the unit on, a stop needs it off: s and d cannot both be fractional with u
            # unchanged (which would pay half a start to loosen a ramp)
            rows.add({s: 1.0, u: -1.0}, -np.inf, 0.0, "start/stop", t)
            rows.add({d: 1.0, u: 1.0}, -np.inf, 1.0, "start/stop", t)
            if p.ramp_mw_per_h is not None:
                r, big = p.ramp_mw_per_h, p.capacity_mw
                if t > 0:  # ramp × on-state (tighter than a constant ramp in the relaxation)
                    rows.add({q: 1.0, lay.q(i, t - 1): -1.0, lay.u(i, t - 1): -r, s: -big}, -np.inf, 0.0, "ramp", t)
                    rows.add({lay.q(i, t - 1): 1.0, q: -1.0, u: -r, d: -big}, -np.inf, 0.0, "ramp", t)
                else:
                    rows.add({q: 1.0, s: -big}, -np.inf, r + p.initial_output_mw, "ramp", t)
                    rows.add({q: -1.0, d: -big}, -np.inf, r - p.initial_output_mw, "ramp", t)
            if p.min_up_h > 1:
                window = {lay.s(i, k): 1.0 for k in range(max(0, t - p.min_up_h + 1), t + 1)}
                window[u] = window.get(u, 0.0) - 1.0
                rows.add(window, -np.inf, 0.0, "minimum up time", t)
            if p.min_down_h > 1:
                window = {lay.d(i, k): 1.0 for k in range(max(0, t - p.min_down_h + 1), t + 1)}
                window[u] = window.get(u, 0.0) + 1.0
                rows.add(window, -np.inf, 1.0, "minimum down time", t)
        _initial_state(p, lay, i, lb, ub)
    st = system.storage
    for t in range(T):
        terms = {lay.q(i, t): 1.0 for i in range(len(system.plants))}
        terms.update({lay.dis(t): 1.0, lay.ch(t): -1.0, lay.unserved(t): 1.0, lay.dump(t): -1.0})
        rows.add(terms, system.demand_mw[t], system.demand_mw[t], "balance", t)
        cost[lay.unserved(t)] = system.unserved_penalty
        cost[lay.dump(t)] = system.dump_cost
        if st is None:
            ub[lay.ch(t)] = ub[lay.dis(t)] = ub[lay.soc(t)] = 0.0
            continue
        ub[lay.ch(t)], ub[lay.dis(t)], ub[lay.soc(t)] = st.max_charge_mw, st.max_discharge_mw, st.capacity_mwh
        cost[lay.ch(t)] = 0.01  # a hair of cost so that charging and discharging at once is never free
        terms = {lay.soc(t): 1.0, lay.ch(t): -st.efficiency, lay.dis(t): 1.0 / st.efficiency}
        if t > 0:
            terms[lay.soc(t - 1)] = -(1 - st.loss_per_h)
            rows.add(terms, 0.0, 0.0, "storage content", t)
        else:
            start = (1 - st.loss_per_h) * st.initial_mwh
            rows.add(terms, start, start, "storage content", t)
    if st is not None:
        lb[lay.soc(T - 1)] = st.initial_mwh if st.final_mwh is None else st.final_mwh
    return lay, cost, lb, ub, integrality, rows


def _initial_state(p: Plant, lay: _Layout, i: int, lb: np.ndarray, ub: np.ndarray) -> None:
    """Honour the minimum up/down time still running at the start."""
    if p.initial_on and p.initial_hours_in_state < p.min_up_h:
        for t in range(min(lay.hours, p.min_up_h - p.initial_hours_in_state)):
            lb[lay.u(i, t)] = 1.0
    if not p.initial_on and p.initial_hours_in_state < p.min_down_h:
        for t in range(min(lay.hours, p.min_down_h - p.initial_hours_in_state)):
            ub[lay.u(i, t)] = 0.0


def precheck(system: System) -> list[str]:
    """Inconsistencies that make any plan impossible, each with its hour and constraint family."""
    problems = []
    for p in system.plants:
        avail = system.available_mw(p)
        if p.must_run:
            down = np.flatnonzero(avail < max(p.min_load_mw, 1e-9))
            if len(down):
                problems.append(f"hour {int(down[0])}: plant {p.name!r} must run but is unavailable (outage) "
                                "— availability")
        if p.initial_on and p.initial_output_mw > p.capacity_mw + 1e-9:
            problems.append(f"hour 0: plant {p.name!r} initial output above its capacity — initial state")
        if p.initial_on and p.initial_hours_in_state < p.min_up_h:
            forced = range(min(system.hours, p.min_up_h - p.initial_hours_in_state))
            for t in forced:
                if avail[t] < max(p.min_load_mw, 1e-9):
                    problems.append(f"hour {t}: plant {p.name!r} must stay on (minimum up time) but is in outage "
                                    "— minimum up time / availability")
                    break
        if p.must_run and p.min_load_mw > 0 and system.storage is None and system.dump_cost < 0:
            problems.append(f"plant {p.name!r}: negative dump cost")
    return problems


def solve(system: System, time_limit_s: float = 10.0, mip_rel_gap: float = 1e-3) -> Plan:
    """The least-cost plan; reports the gap reached. Falls back to the LP relaxation (rounded
    commitment is not attempted) when the MILP finds no solution within the time limit.

    Raises:
        PlanInputError: the inputs admit no plan, with the hour and the constraint family.
    """
    problems = precheck(system)
    if problems:
        raise PlanInputError("no feasible plan: " + "; ".join(problems))
    lay, cost, lb, ub, integrality, rows = _build(system)
    a, lo, hi = rows.matrix(lay.size)
    started = time.perf_counter()
    result = milp(cost, constraints=LinearConstraint(a.tocsr(), lo, hi), integrality=integrality,
                  bounds=(lb, ub), options={"time_limit": time_limit_s, "mip_rel_gap": mip_rel_gap})
    elapsed = time.perf_counter() - started
    relaxed = _lp(cost, lb, ub, rows, lay.size)
    if result.x is None:
        if relaxed is None or relaxed.status == 2:
            raise PlanInputError("no feasible plan: " + diagnose(system))
        plan = _extract(system, lay, relaxed.x)
        plan.status = f"LP relaxation (MILP: {result.message})"
        plan.notes.append("the MILP found no solution within the time limit; the plan is the LP relaxation")
    else:
        plan = _extract(system, lay, result.x)
        plan.status = "optimal" if result.status == 0 else f"time limit ({result.message})"
        plan.gap = float(getattr(result, "mip_gap", 0.0) or 0.0)
        plan.bound_eur = float(getattr(result, "mip_dual_bound", float("nan")))
    plan.solve_s = elapsed
    plan.cost_eur = plan_cost(system, plan)
    if relaxed is not None and relaxed.status == 0:
        balance = np.flatnonzero(np.asarray(rows.family) == "balance")
        duals = relaxed.eqlin.marginals if relaxed.eqlin is not None else None
        if duals is not None:
            eq_rows = np.flatnonzero(np.asarray(rows.lo) == np.asarray(rows.hi))
            position = {r: k for k, r in enumerate(eq_rows)}
            plan.marginal_cost = np.array([duals[position[r]] for r in balance])
        if plan.bound_eur is None or not np.isfinite(plan.bound_eur):
            plan.bound_eur = float(relaxed.fun)
    return plan


def _lp(cost: np.ndarray, lb: np.ndarray, ub: np.ndarray, rows: _Rows, n: int, keep: np.ndarray | None = None
        ) -> Any:
    a, lo, hi = rows.matrix(n, keep)
    a = a.tocsr()
    eq = lo == hi
    ineq_hi = ~eq & np.isfinite(hi)
    ineq_lo = ~eq & np.isfinite(lo)
    from scipy.sparse import vstack

    a_ub = vstack([a[ineq_hi], -a[ineq_lo]]).tocsr()
    b_ub = np.concatenate([hi[ineq_hi], -lo[ineq_lo]])
    res = linprog(cost, A_ub=a_ub, b_ub=b_ub, A_eq=a[eq], b_eq=lo[eq], bounds=list(zip(lb, ub, strict=True)),
                  method="highs")
    return res


def diagnose(system: System) -> str:
    """Which constraint family makes the problem infeasible: drop each in turn from the LP relaxation."""
    lay, cost, lb, ub, _, rows = _build(system)
    families = sorted(set(rows.family) - {"balance"})
    fam = np.asarray(rows.family)
    for family in families:
        res = _lp(cost, lb, ub, rows, lay.size, keep=fam != family)
        if getattr(res, "status", 2) == 0:
            hours = sorted({h for h, f in zip(rows.hour, rows.family, strict=True) if f == family})
            return f"the {family} constraints cannot all hold (hours {hours[0]}-{hours[-1]})"
    return "the initial state, outages and must-run/must-take bounds cannot all hold"


def _extract(system: System, lay: _Layout, x: np.ndarray) -> Plan:
    T = system.hours
    production, on, starts = {}, {}, {}
    for i, p in enumerate(system.plants):
        production[p.name] = np.array([x[lay.q(i, t)] for t in range(T)])
        on[p.name] = np.round(np.array([x[lay.u(i, t)] for t in range(T)]), 6)
        previous = np.concatenate([[1.0 if p.initial_on else 0.0], on[p.name][:-1]])
        starts[p.name] = np.maximum(0.0, on[p.name] - previous)  # the starts the commitment implies
    return Plan(production, on, starts, np.array([x[lay.ch(t)] for t in range(T)]),
                np.array([x[lay.dis(t)] for t in range(T)]), np.array([x[lay.soc(t)] for t in range(T)]),
                np.array([x[lay.unserved(t)] for t in range(T)]), np.array([x[lay.dump(t)] for t in range(T)]))
