"""Fast history for the demonstration and the benchmarks: the simulator's physics evaluated with numpy
over a whole fleet and a whole period at once, written with the telemetry writer's binary COPY.

:mod:`telemetry.simulator.backfill` produces the same readings one substation and one time step at a
time in pure Python (about 30,000 rows per second with the COPY); a year of a 250-substation network
is then minutes. Here the outdoor temperature, the operating point and the meters' counters are
arrays (time × substation) and the COPY payload is one numpy record array: millions of rows in
seconds. :func:`states` mirrors :func:`telemetry.simulator.physics.state_at_hour` term by term (a test
holds them equal), and the counters integrate the power and flow with the same trapezoids.

One wide row per substation and time step is written on the substation's meter device, carrying every
canonical quantity of the meter and of the controller (``merged`` rows, as the backfill's option), all
of good quality.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import psycopg

from telemetry.quality import Quality
from telemetry.samples import WIDE_QUANTITIES, WIDE_SQL_TYPES
from telemetry.simulator.fleet import SimulatedSubstationSpec
from telemetry.simulator.physics import EPOCH, RHO_C_KWH_PER_M3K, Substation, make_substation
from telemetry.writer import copy_binary_payload

PARIS = ZoneInfo("Europe/Paris")
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
#: the quantities a merged row carries (meter and controller), the others are NULL
WRITTEN = ("energy", "volume", "power", "flow", "t_supply_primary", "t_return_primary", "meter_error_code",
           "t_outdoor", "t_supply_secondary", "t_return_secondary", "valve_position", "pump_running")
_NUMPY = {"float8": ">f8", "float4": ">f4", "int2": ">i2", "int4": ">i4"}


@dataclass
class Counters:
    """The meters' registers at a time [kWh], [m³], with the operating point they were last at."""

    at: datetime
    energy_kwh: np.ndarray
    volume_m3: np.ndarray
    power_kw: np.ndarray
    flow_m3h: np.ndarray


def outdoor_temperature(times: np.ndarray, local_hours: np.ndarray, minutes: np.ndarray,
                        days_of_year: np.ndarray, seed: int = 0) -> np.ndarray:
    """:func:`telemetry.simulator.physics.outdoor_temperature` for many times [°C].

    ``times``: seconds since the physics' epoch; ``local_hours``: Europe/Paris hour of day;
    ``days_of_year``: UTC day of year plus UTC hour / 24.
    """
    hours = times / 3600.0
    seasonal = 12.5 - 8.0 * np.cos(2 * math.pi * (days_of_year - 20) / 365.25)
    daily = 3.5 * np.cos(2 * math.pi * (local_hours + minutes / 60.0 - 15) / 24)
    noise = (2.2 * np.sin(2 * math.pi * hours / 97.0 + seed)
             + 1.6 * np.sin(2 * math.pi * hours / 211.0 + 2 * seed + 1.3)
             + 0.9 * np.sin(2 * math.pi * hours / 41.0 + 3 * seed + 0.4))
    return np.asarray(seasonal + daily + noise)


def states(design_kw: np.ndarray, limit_c: np.ndarray, design_out_c: np.ndarray, dhw_share: np.ndarray,
           local_hour: np.ndarray, t_out: np.ndarray) -> dict[str, np.ndarray]:
    """The operating points (time × substation arrays) of :func:`~telemetry.simulator.physics.state_at_hour`:
    power [kW], flow [m³/h], temperatures [°C], valve position [%], pump running (0/1)."""
    hour = local_hour[:, None]
    t = t_out[:, None]
    heating = np.clip((limit_c - t) / (limit_c - design_out_c), 0.0, 1.3)
    heating = np.where((hour >= 22) | (hour < 5), heating * 0.8, np.where(hour < 9, heating * 1.15, heating))
    dhw = np.where(np.isin(hour, (6, 7, 8, 19, 20, 21)), 1.8, np.where(hour < 5, 0.3, 0.9))
    power = design_kw * (heating + dhw_share * dhw)
    share = power / (design_kw * 1.3)
    t_supply = np.broadcast_to(75.0 + 30.0 * np.clip((15.0 - t) / 22.0, 0.0, 1.0), power.shape)
    t_return = 42.0 + 8.0 * np.minimum(1.0, share)
    delta_t = t_supply - t_return
    flow = power / (RHO_C_KWH_PER_M3K * delta_t)
    sec_supply = np.where(heating > 0, 35.0 + 35.0 * np.minimum(1.0, heating), 55.0)
    return {"power": power, "flow": flow, "t_supply_primary": t_supply, "t_return_primary": t_supply - delta_t,
            "t_supply_secondary": sec_supply,
            "t_return_secondary": sec_supply - (3.0 + 12.0 * np.minimum(1.0, heating)),
            "valve_position": np.minimum(100.0, 100.0 * share), "pump_running": (power > 0).astype(np.int16),
            "t_outdoor": np.broadcast_to(t, power.shape)}


def time_grid(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    """[start, end) every ``step`` (UTC)."""
    out, t = [], start.astimezone(UTC)
    while t < end:
        out.append(t)
        t += step
    return out


class FleetHistory:
    """Generates a fleet's history chunk by chunk, carrying the counters from one chunk to the next."""

    def __init__(self, specs: list[SimulatedSubstationSpec], device_ids: dict[str, int],
                 counters: Counters | None = None, substations: list[Substation] | None = None) -> None:
        """``substations``: what each spec simulates (default: the simulator's own, from the spec's seed)."""
        self.subs: list[Substation] = substations or [make_substation(s.code, s.seed) for s in specs]
        meters = [next(d.code for d in s.devices if d.role == "meter") for s in specs]
        self.device_ids = np.array([device_ids[m] for m in meters], dtype=np.int64)
        b = [s.building for s in self.subs]
        self.design = np.array([x.design_power_kw for x in b])
        self.limit = np.array([x.heating_limit_c for x in b])
        self.design_out = np.array([x.design_outdoor_c for x in b])
        self.dhw = np.array([x.dhw_share for x in b])
        self.energy_capacity = np.array([s.energy_capacity_kwh for s in self.subs])
        self.volume_capacity = np.array([s.volume_capacity_m3 for s in self.subs])
        self.counters = counters
        self.wrapped: dict[str, np.ndarray] = {}

    def chunk(self, times: list[datetime]) -> dict[str, np.ndarray]:
        """Every written quantity at ``times`` (time × substation), advancing the counters."""
        utc = [t.astimezone(UTC) for t in times]
        local = [t.astimezone(PARIS) for t in utc]
        seconds = np.array([(t - EPOCH).total_seconds() for t in utc])
        local_hour = np.array([t.hour for t in local])
        minutes = np.array([t.minute for t in local], dtype=float)
        day_of_year = np.array([t.timetuple().tm_yday + t.hour / 24.0 for t in utc])
        t_out = outdoor_temperature(seconds, local_hour, minutes, day_of_year)
        values = states(self.design, self.limit, self.design_out, self.dhw, local_hour, t_out)
        power, flow = values["power"], values["flow"]
        if self.counters is None:  # the meters' registers as the simulator starts them
            self.counters = Counters(utc[0], np.array([s.energy_kwh for s in self.subs]),
                                     np.array([s.volume_m3 for s in self.subs]), power[0].copy(), flow[0].copy())
        c = self.counters
        previous_at = np.array([(c.at - EPOCH).total_seconds(), *seconds[:-1]])
        dt_h = ((seconds - previous_at) / 3600.0)[:, None]
        prev_power = np.vstack([c.power_kw[None, :], power[:-1]])
        prev_flow = np.vstack([c.flow_m3h[None, :], flow[:-1]])
        energy = (c.energy_kwh + np.cumsum(dt_h * (power + prev_power) / 2, axis=0)) % self.energy_capacity
        volume = (c.volume_m3 + np.cumsum(dt_h * (flow + prev_flow) / 2, axis=0)) % self.volume_capacity
        # a register that wrapped since the previous reading is flagged as the collector flags it
        wrapped = {"energy": energy < np.vstack([c.energy_kwh[None, :], energy[:-1]]),
                   "volume": volume < np.vstack([c.volume_m3[None, :], volume[:-1]])}
        self.wrapped = wrapped
        self.counters = Counters(utc[-1], energy[-1].copy(), volume[-1].copy(), power[-1].copy(), flow[-1].copy())
        return {**values, "energy": energy, "volume": volume, "meter_error_code": np.zeros_like(power)}

    def payload(self, times: list[datetime]) -> bytes:
        """The binary COPY rows of ``substation_samples`` for ``times`` (no header, no trailer)."""
        values = self.chunk(times)
        n_t, n_s = len(times), len(self.device_ids)
        fields: list[tuple[str, str]] = [("n", ">i2"), ("time_len", ">i4"), ("time", ">i8"), ("dev_len", ">i4"),
                                         ("dev", ">i8")]
        for q in WIDE_QUANTITIES:
            fields.append((f"{q}_len", ">i4"))
            if q in WRITTEN:
                fields.append((q, _NUMPY[WIDE_SQL_TYPES[q]]))
        for q in WIDE_QUANTITIES:
            fields.append((f"{q}_q_len", ">i4"))
            if q in WRITTEN:
                fields.append((f"{q}_q", ">i2"))
        rows = np.zeros(n_t * n_s, dtype=np.dtype(fields))
        rows["n"] = 2 + 2 * len(WIDE_QUANTITIES)
        rows["time_len"], rows["dev_len"] = 8, 8
        micros = np.array([int((t.astimezone(UTC) - PG_EPOCH).total_seconds()) * 1_000_000 for t in times],
                          dtype=np.int64)
        rows["time"] = np.repeat(micros, n_s)
        rows["dev"] = np.tile(self.device_ids, n_t)
        for q in WIDE_QUANTITIES:
            written = q in WRITTEN
            rows[f"{q}_len"] = np.dtype(_NUMPY[WIDE_SQL_TYPES[q]]).itemsize if written else -1
            rows[f"{q}_q_len"] = 2 if written else -1
            if written:
                data = values[q]
                if WIDE_SQL_TYPES[q].startswith("int"):
                    data = np.rint(data)
                rows[q] = np.asarray(data).reshape(-1)
                rows[f"{q}_q"] = np.where(self.wrapped[q].reshape(-1), int(Quality.COUNTER_ROLLOVER),
                                          int(Quality.GOOD)) if q in self.wrapped else int(Quality.GOOD)
        return rows.tobytes()


def write_history(conn: psycopg.Connection, specs: list[SimulatedSubstationSpec], device_ids: dict[str, int],
                  times: list[datetime], counters: Counters | None = None, steps_per_chunk: int = 24 * 7,
                  substations: list[Substation] | None = None) -> Iterator[tuple[int, Counters]]:
    """Write the fleet's history at ``times`` (sorted, into an empty period) in chunks; yields the rows
    written by each chunk and the counters after it (one transaction per chunk)."""
    history = FleetHistory(specs, device_ids, counters, substations)
    for i in range(0, len(times), steps_per_chunk):
        part = times[i:i + steps_per_chunk]
        rows = copy_binary_payload(conn, history.payload(part))
        if history.counters is not None:
            yield rows, history.counters
