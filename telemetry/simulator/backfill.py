"""History generated with the simulator's physics, for tests, benchmarks and the demo.

Produces the readings a collector would have produced at a fixed step over a past period, per device
of a fleet spec: the meter's quantities on the meter, the controller's on the controller, or every
canonical quantity on the meter alone (``merged``: one wide row per substation per step). Write them
with :func:`telemetry.writer.copy_readings` (empty period) or :func:`telemetry.writer.write_readings`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from telemetry.quality import Quality
from telemetry.samples import Reading
from telemetry.simulator.fleet import SimulatedSubstationSpec
from telemetry.simulator.physics import make_substation, outdoor_temperature, state_at_hour

PARIS = ZoneInfo("Europe/Paris")
METER = ("energy", "volume", "power", "flow", "t_supply_primary", "t_return_primary", "meter_error_code")
CONTROLLER = ("t_outdoor", "t_supply_secondary", "t_return_secondary", "valve_position", "pump_running")


def backfill(specs: list[SimulatedSubstationSpec], device_ids: dict[str, int], start: datetime, end: datetime,
             step: timedelta = timedelta(minutes=10), merged: bool = False) -> Iterator[list[Reading]]:
    """Readings per time step over [start, end) for every device of ``specs`` found in ``device_ids``.

    The meters' counters integrate the power from their state at ``start`` (deterministic per spec).
    """
    subs = [(spec, make_substation(spec.code, spec.seed)) for spec in specs]
    hours = step.total_seconds() / 3600
    previous_power: dict[str, tuple[float, float] | None] = {spec.code: None for spec, _ in subs}
    t = start.astimezone(UTC)
    while t < end:
        t_out = outdoor_temperature(t)
        local_hour = t.astimezone(PARIS).hour
        batch: list[Reading] = []
        for spec, sub in subs:
            s = state_at_hour(sub.building, local_hour, t_out)
            last = previous_power[spec.code]
            if last is not None:
                sub.energy_kwh = (sub.energy_kwh + hours * (s.power + last[0]) / 2) % sub.energy_capacity_kwh
                sub.volume_m3 = (sub.volume_m3 + hours * (s.flow + last[1]) / 2) % sub.volume_capacity_m3
            previous_power[spec.code] = (s.power, s.flow)
            values = {"energy": sub.energy_kwh, "volume": sub.volume_m3, "power": s.power, "flow": s.flow,
                      "t_supply_primary": s.t_supply_primary, "t_return_primary": s.t_return_primary,
                      "meter_error_code": 0.0, "t_outdoor": s.t_outdoor, "t_supply_secondary": s.t_supply_secondary,
                      "t_return_secondary": s.t_return_secondary, "valve_position": s.valve_position,
                      "pump_running": float(s.pump_running)}
            for d in spec.devices:
                if d.code not in device_ids:
                    continue
                names = (METER + CONTROLLER) if merged else (METER if d.role == "meter" else CONTROLLER)
                if merged and d.role != "meter":
                    continue
                batch.append(Reading(t, device_ids[d.code], {n: (values[n], Quality.GOOD) for n in names}))
        yield batch
        t += step
