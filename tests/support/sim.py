"""A simulated fleet running in a background thread with its own event loop, for tests."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from telemetry.profiles import Profile, load_profiles
from telemetry.simulator.fleet import SimulatedSubstationSpec, Simulator, fleet_specs


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
def running_fleet(count: int, port: int = 15020, profiles: dict[str, Profile] | None = None,
                  base_address: str = "127.1.0.0", latency_s: float = 0.0) -> Iterator[SimulatorThread]:
    specs = fleet_specs(count, port, base_address)
    sim = SimulatorThread(specs, profiles or fast_profiles(), latency_s).start()
    try:
        yield sim
    finally:
        sim.stop()
