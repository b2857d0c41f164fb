"""An independent check of a plan against every constraint, and its cost, without the solver.

Used after every solve and by the tests (which also break plans on purpose). Tolerance 1e-6 MW.
"""

from __future__ import annotations

import numpy as np

from models.planning.system import Plan, System

TOL = 1e-6


def plan_cost(system: System, plan: Plan) -> float:
    """Total cost [€]: energy at each plant's marginal cost, starts, unserved heat and dumped heat."""
    total = 0.0
    for p in system.plants:
        total += float(system.marginal_cost(p) @ plan.production[p.name])
        total += p.start_cost * float(np.sum(plan.starts[p.name]))
    return total + system.unserved_penalty * float(plan.unserved.sum()) + system.dump_cost * float(plan.dump.sum())


def co2_tonnes(system: System, plan: Plan) -> dict[str, float]:
    """CO2 emitted by each plant [t]."""
    return {p.name: float(p.co2_factor / p.efficiency * plan.production[p.name].sum()) for p in system.plants}


def renewable_share(system: System, plan: Plan) -> float:
    """Share of renewable and recovered heat in the heat produced (it decides the VAT on energy)."""
    produced = sum(float(plan.production[p.name].sum()) for p in system.plants)
    green = sum(float(plan.production[p.name].sum()) for p in system.plants if p.renewable)
    return green / produced if produced > 0 else 0.0


def check_plan(system: System, plan: Plan) -> list[str]:
    """Every violated constraint, as 'hour t: plant X: what' (empty: the plan is valid)."""
    out: list[str] = []
    T = system.hours
    for p in system.plants:
        q, u, s = plan.production[p.name], np.round(plan.on[p.name]), plan.starts[p.name]
        avail, take = system.available_mw(p), system.must_take(p)
        prev_u = 1.0 if p.initial_on else 0.0
        prev_q = p.initial_output_mw if p.initial_on else 0.0
        run = p.initial_hours_in_state
        for t in range(T):
            if q[t] < -TOL or q[t] > avail[t] * u[t] + TOL:
                out.append(f"hour {t}: plant {p.name}: {q[t]:.3f} MW outside 0..{avail[t] * u[t]:.3f} (capacity)")
            if u[t] and q[t] < min(p.min_load_mw, avail[t]) - TOL:
                out.append(f"hour {t}: plant {p.name}: {q[t]:.3f} MW below its minimum load")
            if p.must_run and not u[t]:
                out.append(f"hour {t}: plant {p.name}: must run but is off")
            if q[t] < take[t] - TOL:
                out.append(f"hour {t}: plant {p.name}: {q[t]:.3f} MW below the must-take heat {take[t]:.3f}")
            started = max(0.0, u[t] - prev_u)
            if abs(s[t] - started) > TOL:
                out.append(f"hour {t}: plant {p.name}: start count {s[t]:.3f} for a change "
                           f"{prev_u:.0f}→{u[t]:.0f}")
            if u[t] != prev_u:
                needed = p.min_up_h if prev_u else p.min_down_h
                if run < needed:
                    what = "minimum up time" if prev_u else "minimum down time"
                    out.append(f"hour {t}: plant {p.name}: {what} {needed} h not respected (ran {run} h)")
                run = 1
            else:
                run += 1
            if p.ramp_mw_per_h is not None and u[t] and prev_u and abs(q[t] - prev_q) > p.ramp_mw_per_h + TOL:
                out.append(f"hour {t}: plant {p.name}: ramp {q[t] - prev_q:+.3f} MW/h beyond {p.ramp_mw_per_h}")
            prev_u, prev_q = u[t], q[t]
    st = system.storage
    content = st.initial_mwh if st else 0.0
    for t in range(T):
        if st is None:
            if abs(plan.charge[t]) > TOL or abs(plan.discharge[t]) > TOL:
                out.append(f"hour {t}: storage used but there is none")
        else:
            if not -TOL <= plan.charge[t] <= st.max_charge_mw + TOL:
                out.append(f"hour {t}: storage charge {plan.charge[t]:.3f} MW beyond its limit")
            if not -TOL <= plan.discharge[t] <= st.max_discharge_mw + TOL:
                out.append(f"hour {t}: storage discharge {plan.discharge[t]:.3f} MW beyond its limit")
            content = (1 - st.loss_per_h) * content + st.efficiency * plan.charge[t] - plan.discharge[t] / st.efficiency
            if abs(content - plan.soc[t]) > 1e-4:
                out.append(f"hour {t}: storage content {plan.soc[t]:.3f} MWh, the balance of flows gives {content:.3f}")
            if not -1e-4 <= plan.soc[t] <= st.capacity_mwh + 1e-4:
                out.append(f"hour {t}: storage content {plan.soc[t]:.3f} MWh outside 0..{st.capacity_mwh}")
        supplied = sum(plan.production[p.name][t] for p in system.plants) + plan.discharge[t] - plan.charge[t] \
            + plan.unserved[t] - plan.dump[t]
        if abs(supplied - system.demand_mw[t]) > 1e-4:
            out.append(f"hour {t}: balance {supplied:.3f} MW for a demand of {system.demand_mw[t]:.3f} MW")
        if plan.unserved[t] < -TOL or plan.dump[t] < -TOL:
            out.append(f"hour {t}: negative unserved or dumped heat")
    if st is not None:
        final = st.initial_mwh if st.final_mwh is None else st.final_mwh
        if plan.soc[-1] < final - 1e-4:
            out.append(f"hour {T - 1}: storage ends at {plan.soc[-1]:.3f} MWh, below the required {final:.3f}")
    if plan.cost_eur and abs(plan_cost(system, plan) - plan.cost_eur) > 1e-6 * max(1.0, abs(plan.cost_eur)) + 0.01:
        out.append(f"cost: the plan says {plan.cost_eur:.2f} €, its flows cost {plan_cost(system, plan):.2f} €")
    return out
