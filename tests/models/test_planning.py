"""The planner: hand-solvable optima, outages, infeasibility explained, the checker catches broken plans."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from models.planning.checker import check_plan, plan_cost, renewable_share
from models.planning.heuristic import merit_order
from models.planning.milp import solve
from models.planning.system import PlanInputError, parse_system


def system(plants: list[dict[str, object]], demand: list[float], **extra: object):  # type: ignore[no-untyped-def]
    return parse_system({"plants": plants, **extra}, demand)


def test_merit_order_optimum() -> None:
    s = system([{"name": "cheap", "kind": "geothermal", "capacity_mw": 6, "vom": 20},
                {"name": "dear", "kind": "gas_boiler", "capacity_mw": 20, "vom": 30}], [10, 10, 10])
    plan = solve(s)
    assert plan.cost_eur == pytest.approx(3 * (6 * 20 + 4 * 30))
    assert plan.production["cheap"].tolist() == pytest.approx([6, 6, 6])
    assert check_plan(s, plan) == []
    assert plan.gap is not None
    assert plan.gap <= 1e-3
    assert plan.marginal_cost is not None
    assert plan.marginal_cost.tolist() == pytest.approx([30, 30, 30])


def test_storage_arbitrage() -> None:
    s = system([{"name": "hp", "kind": "heat_pump", "capacity_mw": 10, "cop": 2.0}], [5, 5],
               electricity_price=[20, 200],
               storage={"name": "tank", "capacity_mwh": 10, "max_charge_mw": 10, "max_discharge_mw": 10,
                        "efficiency": 1.0, "loss_per_h": 0.0, "initial_mwh": 0})
    plan = solve(s)
    assert plan.production["hp"].tolist() == pytest.approx([10, 0])
    assert plan.discharge.tolist() == pytest.approx([0, 5])
    assert plan.cost_eur == pytest.approx(10 * 20 / 2.0)
    assert check_plan(s, plan) == []


def test_minimum_up_time_case() -> None:
    s = system([{"name": "A", "kind": "geothermal", "capacity_mw": 10, "min_load_mw": 2, "vom": 10, "min_up_h": 3},
                {"name": "B", "kind": "gas_boiler", "capacity_mw": 10, "vom": 30}], [5, 0, 0, 0], dump_cost=5)
    plan = solve(s)
    assert plan.on["A"].tolist() == [1, 1, 1, 0]
    assert plan.cost_eur == pytest.approx(5 * 10 + 2 * 2 * 10 + 4 * 5)
    assert check_plan(s, plan) == []


def test_outage_is_covered_by_the_next_plant() -> None:
    s = system([{"name": "A", "kind": "geothermal", "capacity_mw": 10, "vom": 10, "outages": [[0, 2]]},
                {"name": "B", "kind": "gas_boiler", "capacity_mw": 10, "vom": 30}], [5, 5, 5])
    plan = solve(s)
    assert plan.production["A"].tolist() == pytest.approx([0, 0, 5])
    assert plan.production["B"].tolist() == pytest.approx([5, 5, 0])


def test_infeasible_inputs_are_explained() -> None:
    s = system([{"name": "UVE", "kind": "recovered_heat", "capacity_mw": 10, "must_run": True, "min_load_mw": 2,
                 "outages": [[5, 8]]}], [4] * 10)
    with pytest.raises(PlanInputError, match=r"hour 5: plant 'UVE' must run but is unavailable .*availability"):
        solve(s)
    with pytest.raises(PlanInputError, match="plant 'X': min_load_mw 5 exceeds capacity_mw 3"):
        system([{"name": "X", "kind": "gas_boiler", "capacity_mw": 3, "min_load_mw": 5}], [1])
    with pytest.raises(PlanInputError, match="kind: 'coal'"):
        system([{"name": "X", "kind": "coal", "capacity_mw": 3}], [1])


def test_unserved_heat_is_penalised_not_infeasible() -> None:
    s = system([{"name": "A", "kind": "gas_boiler", "capacity_mw": 5, "vom": 30}], [8, 8], unserved_penalty=1000)
    plan = solve(s)
    assert plan.unserved.tolist() == pytest.approx([3, 3])
    assert plan.cost_eur == pytest.approx(2 * (5 * 30 + 3 * 1000))


@pytest.fixture
def realistic():  # type: ignore[no-untyped-def]
    h = np.arange(48)
    demand = 60 + 25 * np.sin(2 * np.pi * (h % 24 - 6) / 24)
    s = parse_system({"co2_price": 80, "electricity_price": (60 + 40 * np.sin(2 * np.pi * (h % 24 - 8) / 24)).tolist(),
                      "plants": [
                          {"name": "UVE", "kind": "recovered_heat", "capacity_mw": 40, "must_take_mw": 30, "vom": 2},
                          {"name": "GEO", "kind": "geothermal", "capacity_mw": 10, "min_load_mw": 3, "vom": 8,
                           "start_cost": 200, "min_up_h": 6, "min_down_h": 6},
                          {"name": "GB", "kind": "gas_boiler", "capacity_mw": 60, "min_load_mw": 5, "efficiency": 0.92,
                           "fuel_price": 40, "co2_factor": 0.2, "start_cost": 300, "ramp_mw_per_h": 30}],
                      "storage": {"name": "tank", "capacity_mwh": 100, "max_charge_mw": 20, "max_discharge_mw": 20,
                                  "initial_mwh": 40}}, demand)
    return s, solve(s)


def test_checker_accepts_the_solver_and_rejects_broken_plans(realistic) -> None:  # type: ignore[no-untyped-def]
    s, plan = realistic
    assert check_plan(s, plan) == []
    assert 0.5 < renewable_share(s, plan) <= 1
    assert plan.cost_eur < merit_order(s).cost_eur
    broken = copy.deepcopy(plan)
    broken.production["GB"][10] += 100
    assert any("capacity" in v for v in check_plan(s, broken))
    assert any("balance" in v for v in check_plan(s, broken))
    broken = copy.deepcopy(plan)
    broken.soc[20] += 5
    assert any("storage content" in v for v in check_plan(s, broken))
    broken = copy.deepcopy(plan)
    broken.cost_eur *= 0.9
    assert any(v.startswith("cost:") for v in check_plan(s, broken))
    broken = copy.deepcopy(plan)
    broken.production["UVE"][:] = 0
    assert any("must-take" in v for v in check_plan(s, broken))
    assert plan_cost(s, plan) == pytest.approx(plan.cost_eur)
