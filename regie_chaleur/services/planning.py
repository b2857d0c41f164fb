"""Wires production planning: the next 7 days from the latest stored forecast, re-planned when a newer
forecast exists, stored with costs, CO2 and the renewable share; plan versus actual."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import yaml

from models.planning.checker import check_plan, co2_tonnes, renewable_share
from models.planning.milp import solve
from models.planning.system import PlanInputError, parse_system
from regie_chaleur.errors import RegieError

DEMO_PLANTS = "ivry-plants.yaml"


def read_system_doc(path: Path | None) -> dict[str, Any]:
    """The plants YAML (``path``, or the Ivry demonstration file shipped with the package)."""
    try:
        text = path.read_text(encoding="utf-8") if path else \
            (resources.files("regie_chaleur") / "config" / DEMO_PLANTS).read_text(encoding="utf-8")
        doc = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise RegieError(f"cannot read the plants file {path or DEMO_PLANTS}: {exc}") from exc
    if not isinstance(doc, dict):
        raise RegieError(f"{path or DEMO_PLANTS}: expected a mapping with plants")
    return doc


@dataclass(frozen=True)
class StoredPlan:
    id: int | None  # None: nothing to do (the latest forecast is already planned)
    forecast_id: int | None
    cost_eur: float = 0.0
    status: str = ""


def plan_latest(conn: psycopg.Connection, system_doc: dict[str, Any], losses_share: float = 0.10,
                force: bool = False, time_limit_s: float = 20.0) -> StoredPlan:
    """Plan from the latest network forecast (P50 + network losses); does nothing when that forecast
    has a plan already, unless ``force``.

    Raises:
        RegieError: no forecast yet, or inputs that admit no plan (with hour and constraint family).
    """
    latest = conn.execute("SELECT id, issued_at FROM load_forecasts WHERE scope = 'network' "
                          "ORDER BY issued_at DESC LIMIT 1").fetchone()
    if latest is None:
        raise RegieError("no network forecast to plan from: run `regie-chaleur forecast run` first")
    forecast_id = int(latest[0])
    done = conn.execute("SELECT id FROM production_plans WHERE forecast_id = %s", (forecast_id,)).fetchone()
    if done and not force:
        return StoredPlan(None, forecast_id)
    values = conn.execute("SELECT target, p50_mw FROM load_forecast_values WHERE forecast_id = %s ORDER BY target",
                          (forecast_id,)).fetchall()
    targets = [r[0] for r in values]
    demand = np.array([r[1] for r in values]) * (1 + losses_share)
    system_doc = with_unavailabilities(conn, system_doc, targets[0], len(targets))
    try:
        system = parse_system(system_doc, demand)
        plan = solve(system, time_limit_s=time_limit_s)
    except PlanInputError as exc:
        raise RegieError(f"no plan: {exc}") from exc
    violations = check_plan(system, plan)
    if violations:
        raise RegieError("the solver's plan fails the checker: " + "; ".join(violations[:5]))
    with conn.transaction(), conn.cursor() as cur:
        row = cur.execute(
            """INSERT INTO production_plans (forecast_id, start_at, hours, status, gap, cost_eur, co2_t,
                   renewable_share, solve_s, system) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
            (forecast_id, targets[0], len(targets), plan.status, plan.gap, round(plan.cost_eur, 2),
             sum(co2_tonnes(system, plan).values()), renewable_share(system, plan), plan.solve_s,
             json.dumps(system_doc, default=str))).fetchone()
        plan_id = int(row[0])  # type: ignore[index]
        cur.executemany(
            "INSERT INTO plan_production (plan_id, target, plant, production_mw, is_on, started) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            [(plan_id, targets[t], p.name, float(plan.production[p.name][t]), bool(plan.on[p.name][t] > 0.5),
              bool(plan.starts[p.name][t] > 0.5)) for p in system.plants for t in range(len(targets))])
        marginal: list[float | None] = (plan.marginal_cost.tolist() if plan.marginal_cost is not None
                                        else [None] * len(targets))
        cur.executemany(
            "INSERT INTO plan_hours (plan_id, target, demand_mw, charge_mw, discharge_mw, storage_mwh, unserved_mw, "
            "dump_mw, marginal_cost) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(plan_id, targets[t], float(demand[t]), float(plan.charge[t]), float(plan.discharge[t]),
              float(plan.soc[t]), float(plan.unserved[t]), float(plan.dump[t]),
              marginal[t]) for t in range(len(targets))])
    return StoredPlan(plan_id, forecast_id, plan.cost_eur, plan.status)


@dataclass(frozen=True)
class Unavailability:
    id: int
    plant: str  # its name in the plants file
    start_at: datetime
    end_at: datetime
    reason: str
    created_by: str


def read_unavailabilities(conn: psycopg.Connection, since: datetime) -> list[Unavailability]:
    """The declared unavailabilities still in force or to come after ``since`` (not cancelled)."""
    rows = conn.execute("SELECT id, plant, start_at, end_at, reason, created_by FROM plant_unavailabilities "
                        "WHERE cancelled_at IS NULL AND end_at > %s ORDER BY start_at, plant", (since,)).fetchall()
    return [Unavailability(int(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows]


def declare_unavailability(conn: psycopg.Connection, plant: str, start_at: datetime, end_at: datetime, reason: str,
                           actor: str, plants: list[str]) -> int:
    """Record that ``plant`` produces nothing from ``start_at`` to ``end_at``; returns its id.

    Raises:
        RegieError: an unknown plant, an end not after the start, no reason (French, for operators).
    """
    if plant not in plants:
        raise RegieError(f"installation inconnue : {plant} (connues : {', '.join(plants)})")
    if end_at <= start_at:
        raise RegieError("la fin de l'indisponibilité doit être après son début")
    if not reason.strip():
        raise RegieError("indiquez le motif de l'indisponibilité")
    row = conn.execute("INSERT INTO plant_unavailabilities (plant, start_at, end_at, reason, created_by) "
                       "VALUES (%s, %s, %s, %s, %s) RETURNING id", (plant, start_at, end_at, reason.strip(), actor)
                       ).fetchone()
    return int(row[0])  # type: ignore[index]


def cancel_unavailability(conn: psycopg.Connection, unavailability_id: int, actor: str) -> None:
    """Withdraw a declared unavailability (kept, marked cancelled by whom and when).

    Raises:
        RegieError: unknown or already cancelled.
    """
    row = conn.execute("UPDATE plant_unavailabilities SET cancelled_at = now(), cancelled_by = %s "
                       "WHERE id = %s AND cancelled_at IS NULL RETURNING id", (actor, unavailability_id)).fetchone()
    if row is None:
        raise RegieError(f"indisponibilité {unavailability_id} inconnue ou déjà annulée")


def with_unavailabilities(conn: psycopg.Connection, system_doc: dict[str, Any], start_at: datetime,
                          hours: int) -> dict[str, Any]:
    """``system_doc`` with the declared unavailabilities over [start_at, start_at + hours h) added to its
    plants' outages (hours from the plan's start, the partly covered hours included)."""
    declared = read_unavailabilities(conn, start_at)
    if not declared:
        return system_doc
    doc = dict(system_doc)
    plants = []
    for plant in system_doc.get("plants", []) or []:
        outages = [list(o) for o in plant.get("outages", []) or []]
        for u in declared:
            if u.plant != plant.get("name"):
                continue
            first = max(0, math.floor((u.start_at - start_at).total_seconds() / 3600))
            last = min(hours, math.ceil((u.end_at - start_at).total_seconds() / 3600))
            if first < last:
                outages.append([first, last])
        plants.append({**plant, "outages": outages} if outages else plant)
    doc["plants"] = plants
    return doc


def plant_names(system_doc: dict[str, Any]) -> list[str]:
    return [str(p.get("name")) for p in system_doc.get("plants", []) or []]


def plan_versus_actual(conn: psycopg.Connection, plan_id: int, now: datetime) -> list[dict[str, Any]]:
    """Per plant: planned and metered production [MWh] over the plan's hours already elapsed (plant
    meters matched by the plant's registry code = its name in the plants file)."""
    rows = conn.execute(
        """SELECT pp.plant, sum(pp.production_mw),
                  (SELECT sum(e.energy_kwh) / 1000 FROM energy_hourly e JOIN devices d ON d.id = e.device_id
                   JOIN plants p ON p.id = d.plant_id
                   WHERE p.code = pp.plant AND e.bucket >= min(pp.target) AND e.bucket <= max(pp.target))
           FROM plan_production pp WHERE pp.plan_id = %s AND pp.target < %s GROUP BY pp.plant ORDER BY pp.plant""",
        (plan_id, now)).fetchall()
    return [{"plant": r[0], "planned_mwh": float(r[1]), "actual_mwh": None if r[2] is None else float(r[2])}
            for r in rows]
