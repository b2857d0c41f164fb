"""What a spreadsheet would do: each hour, must-take heat first, then the cheapest plants in merit
order up to the demand. No storage, no look-ahead; minimum loads respected, up/down times ignored."""

from __future__ import annotations

import numpy as np

from models.planning.checker import plan_cost
from models.planning.system import Plan, System


def merit_order(system: System) -> Plan:
    T = system.hours
    prod = {p.name: np.zeros(T) for p in system.plants}
    on = {p.name: np.zeros(T) for p in system.plants}
    unserved, dump = np.zeros(T), np.zeros(T)
    costs = {p.name: system.marginal_cost(p) for p in system.plants}
    for t in range(T):
        need = system.demand_mw[t]
        for p in system.plants:  # must-take and must-run first
            take = max(system.must_take(p)[t], p.min_load_mw if p.must_run else 0.0)
            take = min(take, system.available_mw(p)[t])
            if take > 0:
                prod[p.name][t], on[p.name][t] = take, 1.0
                need -= take
        for p in sorted(system.plants, key=lambda p: costs[p.name][t]):
            if need <= 0:
                break
            room = system.available_mw(p)[t] - prod[p.name][t]
            if room <= 0:
                continue
            extra = min(room, max(need, 0.0 if on[p.name][t] else p.min_load_mw))
            prod[p.name][t] += extra
            on[p.name][t] = 1.0
            need -= extra
        if need > 0:
            unserved[t] = need
        else:
            dump[t] = -need
    starts = {}
    for p in system.plants:
        prev = np.concatenate([[1.0 if p.initial_on else 0.0], on[p.name][:-1]])
        starts[p.name] = np.maximum(0.0, on[p.name] - prev)
    plan = Plan(prod, on, starts, np.zeros(T), np.zeros(T),
                np.full(T, system.storage.initial_mwh if system.storage else 0.0), unserved, dump,
                status="merit order")
    plan.cost_eur = plan_cost(system, plan)
    return plan
