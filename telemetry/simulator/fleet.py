"""A fleet of simulated substations served together in one process.

Each substation gets its own loopback address and two devices: a heat meter (unit 1) and a
controller (unit 254 for the ECL-style profile, 2 for the TROVIS-style one), alternating the shipped
profiles across the fleet so every decoding path is exercised.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections import Counter
from dataclasses import dataclass

from telemetry.profiles import Profile
from telemetry.simulator.physics import make_substation
from telemetry.simulator.server import SimulatedDevice, SubstationServer, raise_open_file_limit, simulated_address

METER_PROFILES = ("kamstrup-multical-603", "kamstrup-multical-603-int32")
CONTROLLER_PROFILES = ("danfoss-ecl-310", "samson-trovis-5576")


@dataclass(frozen=True)
class SimulatedDeviceSpec:
    code: str
    unit_id: int
    profile: str
    role: str  # "meter" or "controller"


@dataclass(frozen=True)
class SimulatedSubstationSpec:
    code: str
    host: str
    port: int
    seed: int
    devices: tuple[SimulatedDeviceSpec, ...]


def fleet_specs(count: int, port: int = 5020, base_address: str = "127.1.0.0", prefix: str = "SIM",
                with_controllers: bool = True, shared_host: str | None = None) -> list[SimulatedSubstationSpec]:
    """Specs of ``count`` substations (deterministic).

    By default substation i listens on ``base_address + i + 1`` at ``port`` (0: a free port the system
    chooses at start); with ``shared_host`` (e.g. ``0.0.0.0`` in a container) they all listen on that
    host at ``port + i``.
    """
    specs = []
    for i in range(count):
        code = f"{prefix}-{i + 1:05d}"
        meter = METER_PROFILES[i % 2]
        devices = [SimulatedDeviceSpec(f"{code}-MTR", 1, meter, "meter")]
        if with_controllers:
            ctl = CONTROLLER_PROFILES[(i // 2) % 2]
            devices.append(SimulatedDeviceSpec(f"{code}-CTL", 254 if ctl == "danfoss-ecl-310" else 2, ctl,
                                               "controller"))
        host, p = (shared_host, port + i) if shared_host else (simulated_address(i, base_address), port)
        specs.append(SimulatedSubstationSpec(code, host, p, seed=i + 1, devices=tuple(devices)))
    return specs


class Simulator:
    """Serves a fleet; ``servers[code].devices[unit].faults`` injects faults."""

    def __init__(self, specs: list[SimulatedSubstationSpec], profiles: dict[str, Profile],
                 latency_s: float = 0.0) -> None:
        self.specs = specs
        self.received: Counter[int] = Counter()  # function codes received, all devices
        self.servers: dict[str, SubstationServer] = {}
        for spec in specs:
            substation = make_substation(spec.code, spec.seed)
            rng = random.Random(spec.seed)
            devices = {d.unit_id: SimulatedDevice(substation, profiles[d.profile], d.unit_id, rng, latency_s)
                       for d in spec.devices}
            self.servers[spec.code] = SubstationServer(substation, spec.host, spec.port, devices, self.received)

    def device(self, device_code: str) -> SimulatedDevice:
        """The simulated device with registry code ``device_code``."""
        for spec in self.specs:
            for d in spec.devices:
                if d.code == device_code:
                    return self.servers[spec.code].devices[d.unit_id]
        raise KeyError(device_code)

    async def start(self) -> None:
        """Start every endpoint; specs given port 0 get the port the system chose (``self.specs`` updated)."""
        raise_open_file_limit(3 * len(self.servers) + 1024)
        for i in range(0, len(self.specs), 500):
            await asyncio.gather(*(self.servers[s.code].start() for s in self.specs[i:i + 500]))
        self.specs = [dataclasses.replace(s, port=self.servers[s.code].port) for s in self.specs]

    async def stop(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.servers.values()))
        # requests held by a "no answer" fault are still sleeping: end them with the servers
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()
                   and "handle_request" in repr(t.get_coro())]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
