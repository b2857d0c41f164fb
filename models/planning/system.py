"""The production system a plan is made for: plants, storage, prices, demand. Validated dataclasses.

Units: heat MW (hourly energy MWh), prices €/MWh (fuel per MWh of fuel, electricity per MWh of
electricity), CO2 factors tCO2/MWh of fuel, CO2 price €/t, start costs €, times in hours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.errors import ModelError

KINDS = (
    "recovered_heat",
    "geothermal",
    "gas_boiler",
    "oil_boiler",
    "biomass_boiler",
    "chp",
    "heat_pump",
    "electric_boiler",
    "solar_thermal",
)
RENEWABLE_OR_RECOVERED = {"recovered_heat", "geothermal", "biomass_boiler", "heat_pump", "solar_thermal"}


class PlanInputError(ModelError):
    """Bad planning input; names the plant (or storage), the field and, where it applies, the hour."""


@dataclass(frozen=True)
class Plant:
    name: str
    kind: str
    capacity_mw: float  # [MW heat]
    min_load_mw: float = 0.0  # [MW heat] when on
    efficiency: float = 1.0  # heat out / fuel in (COP for a heat pump)
    fuel_price: float = 0.0  # [€/MWh fuel]; a heat pump or electric boiler uses the electricity price
    co2_factor: float = 0.0  # [tCO2/MWh fuel]
    vom: float = 0.0  # [€/MWh heat] variable operation and maintenance
    start_cost: float = 0.0  # [€ per start]
    min_up_h: int = 1
    min_down_h: int = 1
    ramp_mw_per_h: float | None = None  # [MW/h]; None: unlimited
    must_run: bool = False
    must_take_mw: tuple[float, ...] | float | None = None  # [MW] heat to take when available (recovered heat)
    power_to_heat: float = 0.0  # CHP: MWh electricity sold per MWh heat
    initial_on: bool = False
    initial_hours_in_state: int = 24  # hours the unit has been in its initial state
    initial_output_mw: float = 0.0
    outages: tuple[tuple[int, int], ...] = ()  # [start hour, end hour) with capacity 0

    @property
    def renewable(self) -> bool:
        return self.kind in RENEWABLE_OR_RECOVERED


@dataclass(frozen=True)
class Storage:
    name: str
    capacity_mwh: float
    max_charge_mw: float
    max_discharge_mw: float
    efficiency: float = 0.95  # one-way (charge and discharge each)
    loss_per_h: float = 0.001  # share of the content lost per hour
    initial_mwh: float = 0.0
    final_mwh: float | None = None  # None: at least the initial content


@dataclass(frozen=True)
class System:
    plants: tuple[Plant, ...]
    demand_mw: np.ndarray  # [MW] per hour
    storage: Storage | None = None
    co2_price: np.ndarray | float = 0.0  # [€/t]
    electricity_price: np.ndarray | float = 0.0  # [€/MWh electricity]
    unserved_penalty: float = 3000.0  # [€/MWh]
    dump_cost: float = 5.0  # [€/MWh] heat produced and not used (must-take surplus)

    @property
    def hours(self) -> int:
        return len(self.demand_mw)

    def series(self, value: np.ndarray | float) -> np.ndarray:
        arr = np.broadcast_to(np.asarray(value, dtype=float), (self.hours,))
        return np.array(arr)

    def available_mw(self, plant: Plant) -> np.ndarray:
        """Capacity per hour, 0 during outages [MW]."""
        cap = np.full(self.hours, plant.capacity_mw)
        for start, end in plant.outages:
            cap[max(0, start) : min(self.hours, end)] = 0.0
        return cap

    def must_take(self, plant: Plant) -> np.ndarray:
        """Heat that must be taken per hour [MW] (0 where none)."""
        if plant.must_take_mw is None:
            return np.zeros(self.hours)
        wanted = self.series(np.asarray(plant.must_take_mw, dtype=float))
        return np.asarray(np.minimum(wanted, self.available_mw(plant)))

    def marginal_cost(self, plant: Plant) -> np.ndarray:
        """Cost of one MWh of heat per hour [€/MWh], all terms included (not the start cost)."""
        co2 = self.series(self.co2_price)
        elec = self.series(self.electricity_price)
        if plant.kind in ("heat_pump", "electric_boiler"):
            fuel = elec / plant.efficiency
        else:
            fuel = np.full(self.hours, plant.fuel_price / plant.efficiency)
        cost = fuel + plant.co2_factor * co2 / plant.efficiency + plant.vom
        if plant.kind == "chp":
            cost = cost - elec * plant.power_to_heat
        return cost


def _num(
    doc: Mapping[str, Any], key: str, where: str, default: Any = None, lo: float | None = None, hi: float | None = None
) -> Any:
    value = doc.get(key, default)
    if value is None:
        if default is None and key in doc:
            return None
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PlanInputError(f"{where}: {key}: {value!r} is not a number")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise PlanInputError(f"{where}: {key}: {value} is outside {lo}..{hi}")
    return value


PLANT_KEYS = {
    "name",
    "kind",
    "capacity_mw",
    "min_load_mw",
    "efficiency",
    "cop",
    "fuel_price",
    "co2_factor",
    "vom",
    "start_cost",
    "min_up_h",
    "min_down_h",
    "ramp_mw_per_h",
    "must_run",
    "must_take_mw",
    "power_to_heat",
    "initial_on",
    "initial_hours_in_state",
    "initial_output_mw",
    "outages",
}


def parse_plant(doc: Mapping[str, Any], index: int, hours: int) -> Plant:
    """A plant from its mapping (as read from YAML); errors name the plant and the field."""
    where = f"plant {doc.get('name', f'#{index + 1}')!r}"
    unknown = set(doc) - PLANT_KEYS
    if unknown:
        raise PlanInputError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise PlanInputError(f"plant #{index + 1}: name is required")
    kind = doc.get("kind")
    if kind not in KINDS:
        raise PlanInputError(f"{where}: kind: {kind!r} is not one of {', '.join(KINDS)}")
    capacity = _num(doc, "capacity_mw", where, lo=0.001)
    if capacity is None:
        raise PlanInputError(f"{where}: capacity_mw is required")
    min_load = _num(doc, "min_load_mw", where, 0.0, lo=0.0)
    if min_load > capacity:
        raise PlanInputError(f"{where}: min_load_mw {min_load} exceeds capacity_mw {capacity}")
    efficiency = _num(doc, "cop" if "cop" in doc else "efficiency", where, 1.0, lo=0.05, hi=10.0)
    outages = []
    for o in doc.get("outages", []) or []:
        if not (isinstance(o, list | tuple) and len(o) == 2 and all(isinstance(x, int) for x in o) and o[0] < o[1]):
            raise PlanInputError(f"{where}: outages: {o!r} must be [start hour, end hour) with start < end")
        outages.append((int(o[0]), int(o[1])))
    must_take = doc.get("must_take_mw")
    if isinstance(must_take, list):
        if len(must_take) != hours:
            raise PlanInputError(f"{where}: must_take_mw has {len(must_take)} values for {hours} hours")
        must_take = tuple(float(x) for x in must_take)
    elif must_take is not None:
        must_take = float(_num(doc, "must_take_mw", where, lo=0.0))
    plant = Plant(
        name=name,
        kind=kind,
        capacity_mw=float(capacity),
        min_load_mw=float(min_load),
        efficiency=float(efficiency),
        fuel_price=float(_num(doc, "fuel_price", where, 0.0)),
        co2_factor=float(_num(doc, "co2_factor", where, 0.0, 0.0)),
        vom=float(_num(doc, "vom", where, 0.0)),
        start_cost=float(_num(doc, "start_cost", where, 0.0, 0.0)),
        min_up_h=int(_num(doc, "min_up_h", where, 1, 1, 168)),
        min_down_h=int(_num(doc, "min_down_h", where, 1, 1, 168)),
        ramp_mw_per_h=_num(doc, "ramp_mw_per_h", where, None, 0.001),
        must_run=bool(doc.get("must_run", False)),
        must_take_mw=must_take,
        power_to_heat=float(_num(doc, "power_to_heat", where, 0.0, 0.0, 3.0)),
        initial_on=bool(doc.get("initial_on", False)),
        initial_hours_in_state=int(_num(doc, "initial_hours_in_state", where, 24, 0)),
        initial_output_mw=float(_num(doc, "initial_output_mw", where, 0.0, 0.0)),
        outages=tuple(outages),
    )
    return plant


def parse_storage(doc: Mapping[str, Any]) -> Storage:
    where = f"storage {doc.get('name', '')!r}"
    cap = _num(doc, "capacity_mwh", where, lo=0.001)
    if cap is None:
        raise PlanInputError(f"{where}: capacity_mwh is required")
    initial = _num(doc, "initial_mwh", where, 0.0, 0.0, cap)
    final = _num(doc, "final_mwh", where, None, 0.0, cap)
    return Storage(
        str(doc.get("name", "storage")),
        float(cap),
        float(_num(doc, "max_charge_mw", where, cap, 0.0)),
        float(_num(doc, "max_discharge_mw", where, cap, 0.0)),
        float(_num(doc, "efficiency", where, 0.95, 0.5, 1.0)),
        float(_num(doc, "loss_per_h", where, 0.001, 0.0, 0.2)),
        float(initial),
        None if final is None else float(final),
    )


def parse_system(doc: Mapping[str, Any], demand_mw: Sequence[float] | np.ndarray) -> System:
    """A system from a mapping (``plants``, optional ``storage``, ``co2_price``, ``electricity_price``,
    ``unserved_penalty``, ``dump_cost``) and an hourly demand [MW]."""
    demand = np.asarray(demand_mw, dtype=float)
    if demand.ndim != 1 or len(demand) == 0 or not np.all(np.isfinite(demand)) or (demand < 0).any():
        raise PlanInputError("demand: a non-empty series of finite, non-negative MW values is required")
    plants_doc = doc.get("plants")
    if not isinstance(plants_doc, list) or not plants_doc:
        raise PlanInputError("plants: a non-empty list is required")
    plants = tuple(parse_plant(p, i, len(demand)) for i, p in enumerate(plants_doc))
    names = [p.name for p in plants]
    if len(set(names)) != len(names):
        raise PlanInputError("plants: names must be unique")
    storage = parse_storage(doc["storage"]) if doc.get("storage") else None

    def price(key: str) -> np.ndarray | float:
        value = doc.get(key, 0.0)
        if isinstance(value, list):
            if len(value) != len(demand):
                raise PlanInputError(f"{key}: {len(value)} values for {len(demand)} hours")
            return np.asarray(value, dtype=float)
        return float(_num(doc, key, "system", 0.0))

    return System(
        plants,
        demand,
        storage,
        price("co2_price"),
        price("electricity_price"),
        float(_num(doc, "unserved_penalty", "system", 3000.0, 0.0)),
        float(_num(doc, "dump_cost", "system", 5.0, 0.0)),
    )


@dataclass
class Plan:
    """An hourly plan [MW] and what it costs."""

    production: dict[str, np.ndarray]
    on: dict[str, np.ndarray]
    starts: dict[str, np.ndarray]
    charge: np.ndarray
    discharge: np.ndarray
    soc: np.ndarray  # [MWh] at the end of each hour
    unserved: np.ndarray
    dump: np.ndarray
    cost_eur: float = 0.0
    status: str = ""
    gap: float | None = None  # relative MIP gap reached
    bound_eur: float | None = None
    marginal_cost: np.ndarray | None = None  # [€/MWh] per hour, LP relaxation duals of the balance
    solve_s: float = 0.0
    notes: list[str] = field(default_factory=list)
