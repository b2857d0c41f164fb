"""Substation physics: weather, heat load, temperatures, flow and the meter's counters. Pure Python.

- Outdoor temperature: a Paris-like year (mean 12.5 °C, ±8 °C seasonal, ±3.5 °C daily) with
  deterministic weather noise (a sum of slow sines), so any time can be evaluated directly.
- Load: space heating proportional to (heating limit − outdoor) / (heating limit − design outdoor),
  with a night setback and a morning boost (Europe/Paris hours), plus domestic hot water.
- Primary side: network supply temperature from a curve on outdoor temperature (75-105 °C), a
  return temperature of 42-50 °C rising with the load; flow from P = ρ·c·Q·ΔT, i.e.
  Q [m³/h] = P [kW] / (1.163 · ΔT [K]).
- Counters: energy [kWh] and volume [m³] integrate power and flow (trapezoids) and wrap at the
  register capacity.
"""

from __future__ import annotations

import math
import random
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
RHO_C_KWH_PER_M3K = 1.163  # [kWh/(m³·K)] volumetric heat capacity of water at ~70 °C
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def outdoor_temperature(t: datetime, seed: int = 0) -> float:
    """Paris-like outdoor temperature at ``t`` [°C], deterministic for a given seed."""
    hours = (t - EPOCH).total_seconds() / 3600.0
    day_of_year = t.timetuple().tm_yday + t.hour / 24.0
    seasonal = 12.5 - 8.0 * math.cos(2 * math.pi * (day_of_year - 20) / 365.25)
    local_hour = t.astimezone(PARIS).hour + t.minute / 60.0
    daily = 3.5 * math.cos(2 * math.pi * (local_hour - 15) / 24)
    noise = (2.2 * math.sin(2 * math.pi * hours / 97.0 + seed)
             + 1.6 * math.sin(2 * math.pi * hours / 211.0 + 2 * seed + 1.3)
             + 0.9 * math.sin(2 * math.pi * hours / 41.0 + 3 * seed + 0.4))
    return seasonal + daily + noise


@dataclass(frozen=True)
class Building:
    """What a substation heats."""

    design_power_kw: float  # [kW] space heating at the design outdoor temperature
    heating_limit_c: float = 16.0  # [°C] no space heating above this outdoor temperature
    design_outdoor_c: float = -7.0  # [°C]
    dhw_share: float = 0.12  # domestic hot water, as a share of the design power (daily mean)

    @staticmethod
    def random(rng: random.Random) -> Building:
        """A plausible building: lognormal design power around 300 kW (40 kW to 3 MW)."""
        power = min(3000.0, max(40.0, rng.lognormvariate(math.log(300), 0.7)))
        return Building(design_power_kw=round(power, 1), heating_limit_c=round(rng.uniform(14.5, 17.5), 1),
                        dhw_share=round(rng.uniform(0.05, 0.2), 3))


@dataclass(frozen=True)
class State:
    """Instantaneous values of a substation (canonical units)."""

    t_outdoor: float  # [°C]
    power: float  # [kW]
    flow: float  # [m³/h]
    t_supply_primary: float  # [°C]
    t_return_primary: float  # [°C]
    t_supply_secondary: float  # [°C]
    t_return_secondary: float  # [°C]
    valve_position: float  # [%]
    pump_running: int


def compute_state(b: Building, t: datetime, t_outdoor: float) -> State:
    """The substation's operating point at ``t`` for an outdoor temperature [°C]."""
    return state_at_hour(b, t.astimezone(PARIS).hour, t_outdoor)


def state_at_hour(b: Building, local_hour: int, t_outdoor: float) -> State:
    """The operating point at a Europe/Paris hour of day and an outdoor temperature [°C]."""
    heating = max(0.0, min(1.3, (b.heating_limit_c - t_outdoor) / (b.heating_limit_c - b.design_outdoor_c)))
    if local_hour >= 22 or local_hour < 5:
        heating *= 0.8
    elif 5 <= local_hour < 9:
        heating *= 1.15
    dhw_profile = 1.8 if local_hour in (6, 7, 8, 19, 20, 21) else (0.3 if local_hour < 5 else 0.9)
    power = b.design_power_kw * (heating + b.dhw_share * dhw_profile)
    share = power / (b.design_power_kw * 1.3)
    t_supply = 75.0 + 30.0 * max(0.0, min(1.0, (15.0 - t_outdoor) / 22.0))
    t_return = 42.0 + 8.0 * min(1.0, share)  # a well-tuned substation returns at 42-50 °C
    delta_t = t_supply - t_return
    flow = power / (RHO_C_KWH_PER_M3K * delta_t)
    t_sec_supply = 35.0 + 35.0 * min(1.0, heating) if heating > 0 else 55.0
    t_sec_return = t_sec_supply - (3.0 + 12.0 * min(1.0, heating))
    return State(t_outdoor=t_outdoor, power=power, flow=flow, t_supply_primary=t_supply,
                 t_return_primary=t_supply - delta_t, t_supply_secondary=t_sec_supply,
                 t_return_secondary=t_sec_return, valve_position=min(100.0, 100.0 * share),
                 pump_running=1 if power > 0 else 0)


@dataclass
class Substation:
    """A simulated substation: a building and its heat meter's counters."""

    code: str
    building: Building
    weather_seed: int = 0
    energy_kwh: float = 0.0  # [kWh] meter register
    volume_m3: float = 0.0  # [m³] meter register
    energy_capacity_kwh: float = 100_000_000.0  # [kWh] register rolls over here
    volume_capacity_m3: float = 10_000_000.0  # [m³]
    last_time: datetime | None = None
    last_state: State | None = None
    frozen: bool = False  # every register keeps the value it had (a device whose readings stopped updating)
    error_code: int = 0
    extra: dict[str, float] = field(default_factory=dict)  # quantities read as these values
    offsets: dict[str, float] = field(default_factory=dict)  # added to quantities (a drifting or faulty part)
    noise: bool = True  # measurement noise on sensors, as real instruments have
    _last_values: dict[str, float] | None = field(default=None, repr=False)

    def advance(self, t: datetime) -> State:
        """Move to time ``t``: integrate the counters since the last call, return the new state."""
        if self.frozen and self.last_state is not None:
            return self.last_state
        state = compute_state(self.building, t, outdoor_temperature(t, self.weather_seed))
        if self.last_time is not None and self.last_state is not None and t > self.last_time:
            hours = (t - self.last_time).total_seconds() / 3600.0
            self.energy_kwh = (self.energy_kwh + hours * (state.power + self.last_state.power) / 2) \
                % self.energy_capacity_kwh
            self.volume_m3 = (self.volume_m3 + hours * (state.flow + self.last_state.flow) / 2) \
                % self.volume_capacity_m3
        self.last_time, self.last_state = t, state
        return state

    @property
    def _seed(self) -> int:
        return zlib.crc32(self.code.encode()) % 10_000

    def values(self, t: datetime) -> dict[str, float]:
        """Every canonical quantity at ``t`` (advancing the counters) [canonical units].

        Sensors carry a small deterministic measurement noise (temperatures ±0.05 K, flow and power
        ±0.5 %): a steady quantity read at a register's resolution still repeats itself, but a live
        float value is never bit-identical from one poll to the next, as on a real instrument.
        """
        if self.frozen and self._last_values is not None:
            self.advance(t)
            return dict(self._last_values)
        s = self.advance(t)
        values = {"t_outdoor": s.t_outdoor, "power": s.power, "flow": s.flow,
                  "t_supply_primary": s.t_supply_primary, "t_return_primary": s.t_return_primary,
                  "t_supply_secondary": s.t_supply_secondary, "t_return_secondary": s.t_return_secondary,
                  "valve_position": s.valve_position, "pump_running": float(s.pump_running),
                  "energy": self.energy_kwh, "volume": self.volume_m3, "meter_error_code": float(self.error_code),
                  "t_dhw": 55.0, "heat_curve_slope": 1.4, "flow_temp_max": 90.0, "energy_unit": 0.0,
                  "error_status": 0.0, "alarm_status": 0.0}
        if self.noise:
            instant = t.timestamp()
            for k, (name, absolute, relative) in enumerate(_NOISE):
                values[name] += (absolute + relative * abs(values[name])) * _jitter(self._seed, k, instant)
        for name, offset in self.offsets.items():
            values[name] = values.get(name, 0.0) + offset
        values.update(self.extra)
        self._last_values = values
        return dict(values)


#: measured quantity, absolute noise [its unit], relative noise (share of the value)
_NOISE = (("t_outdoor", 0.05, 0.0), ("t_supply_primary", 0.05, 0.0), ("t_return_primary", 0.05, 0.0),
          ("t_supply_secondary", 0.05, 0.0), ("t_return_secondary", 0.05, 0.0), ("flow", 0.0, 0.005),
          ("power", 0.0, 0.005))


def _jitter(seed: int, k: int, instant: float) -> float:
    """A deterministic pseudo-random number in [-1, 1) for a sensor and an instant."""
    x = math.sin(seed * 12.9898 + k * 78.233 + instant * 0.137) * 43758.5453
    return 2.0 * (x - math.floor(x)) - 1.0


def make_substation(code: str, seed: int) -> Substation:
    """A substation with a random building and a meter already in service (deterministic in seed)."""
    rng = random.Random(seed)
    building = Building.random(rng)
    return Substation(code=code, building=building, weather_seed=0,
                      energy_kwh=round(rng.uniform(1e5, 5e6), 3), volume_m3=round(rng.uniform(1e3, 5e4), 3))
