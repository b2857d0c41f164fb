"""A simulated fleet running in a background thread with its own event loop, for tests."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from telemetry.health import CollectorStats
from telemetry.poller import DeviceConfig, EndpointPoller, PollSettings
from telemetry.profiles import Profile, load_profiles
from telemetry.samples import Reading
from telemetry.simulator.fleet import SimulatedSubstationSpec, Simulator, fleet_specs

#: test polling: short timeouts so a failing device costs little, no retry unless a test asks
TEST_POLL = PollSettings(timeout_s=0.4, retries=0, connect_timeout_s=1.0, backoff_initial_s=0.2, backoff_max_s=0.5)


def fast_profiles(interval_s: float = 1.0) -> dict[str, Profile]:
    """The shipped profiles with every poll group at ``interval_s`` and no inter-request pause."""
    return {name: dataclasses.replace(p, poll_intervals=dict.fromkeys(p.poll_intervals, interval_s),
                                      inter_request_delay_s=0.0)
            for name, p in load_profiles().items()}


class SimulatorThread:
    def __init__(self, specs: list[SimulatedSubstationSpec], profiles: dict[str, Profile],
                 latency_s: float = 0.0) -> None:
        self.simulator = Simulator(specs, profiles, latency_s)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> SimulatorThread:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.simulator.start(), self.loop).result(60)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.simulator.stop(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)


@contextmanager
def running_fleet(count: int, profiles: dict[str, Profile] | None = None, base_address: str = "127.1.0.0",
                  latency_s: float = 0.0) -> Iterator[SimulatorThread]:
    """A fleet of ``count`` substations on ``base_address + 1...``, each on a port the system chose
    (``sim.simulator.specs`` carries them once started)."""
    specs = fleet_specs(count, 0, base_address)
    sim = SimulatorThread(specs, profiles or fast_profiles(), latency_s).start()
    try:
        yield sim
    finally:
        sim.stop()


def device_configs(sim: SimulatorThread, profiles: dict[str, Profile], codes: list[str] | None = None,
                   first_id: int = 1) -> list[DeviceConfig]:
    """Poller configurations of the fleet's devices (all, or those with the given codes)."""
    out = []
    for n, spec in enumerate(sim.simulator.specs):
        for k, d in enumerate(spec.devices):
            if codes is None or d.code in codes:
                out.append(DeviceConfig(first_id + 2 * n + k, d.code, spec.host, spec.port, d.unit_id,
                                        profiles[d.profile]))
    return out


def collect(devices: list[DeviceConfig], seconds: float, settings: PollSettings | None = None
            ) -> tuple[list[Reading], CollectorStats]:
    """Poll ``devices`` for ``seconds``, then cancel the pollers; they must all end within 5 s."""
    readings: list[Reading] = []
    stats = CollectorStats()

    async def main() -> None:
        groups: dict[tuple[str, int], list[DeviceConfig]] = {}
        for d in devices:
            groups.setdefault((d.host, d.port), []).append(d)
        pollers = [EndpointPoller(h, p, devs, settings or TEST_POLL, readings.append, stats)
                   for (h, p), devs in groups.items()]
        tasks = [asyncio.create_task(p.run()) for p in pollers]
        await asyncio.sleep(seconds)
        for t in tasks:
            t.cancel()
        _, pending = await asyncio.wait(tasks, timeout=5)
        assert not pending, f"{len(pending)} poller(s) ignored their cancellation"

    asyncio.run(main())
    return readings, stats
