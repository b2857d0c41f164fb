"""The live part of the demonstration: the substations served as Modbus TCP devices (a few faulty on
purpose), the collector polling them, and the background jobs."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from regie_chaleur.db.database import Database
from regie_chaleur.demo.history import Counters
from regie_chaleur.demo.network import DemoSubstation
from regie_chaleur.demo.setup import SimulatedWeather, fleet
from regie_chaleur.errors import RegieError
from regie_chaleur.settings import Settings
from telemetry.simulator.physics import compute_state, outdoor_temperature

#: faults switched on in the live simulator: substation code -> what is wrong
FAULTS = {"SST-C013": "no_answer", "SST-C042": "frozen", "SST-F007": "return_high", "SST-C077": "meter_error",
          "SST-C150": "no_answer"}
FIRST_MAINTENANCE_S = 75.0  # [s] the collector's first round (devices poll every 60 s at most)


def _apply_fault(server: object, fault: str) -> None:
    substation = server.substation  # type: ignore[attr-defined]
    devices = server.devices  # type: ignore[attr-defined]
    if fault == "no_answer":
        for device in devices.values():
            device.faults.no_answer = True
    elif fault == "frozen":
        substation.frozen = True
    elif fault == "return_high":
        substation.offsets["t_return_primary"] = 14.0  # a fouled exchanger: the return 14 K too hot
    elif fault == "meter_error":
        substation.error_code = 8


@contextmanager
def live(db: Database, settings: Settings, subs: list[DemoSubstation], counters: Counters | None,
         system_ports: bool = False) -> Iterator[list[int]]:
    """The simulated substations and the collector polling them, in one event loop thread; yields the
    ports the substations listen on. With ``system_ports`` each substation listens on a port the system
    chooses, written to the registry before the collector reads it."""
    from regie_chaleur.services.telemetry import Shard, poll_settings, profiles_for, read_device_configs
    from telemetry.collector import Collector, connector
    from telemetry.simulator.fleet import Simulator

    profiles = profiles_for(settings)
    specs, simulated = fleet(subs)
    if system_ports:
        specs = [dataclasses.replace(spec, port=0) for spec in specs]
    simulator = Simulator(specs, profiles)
    for i, (spec, sub) in enumerate(zip(specs, simulated, strict=True)):
        server = simulator.servers[spec.code]
        server.substation = sub  # the production meters simulate their network, not a building
        for device in server.devices.values():
            device.substation = sub
        if counters is not None:  # continue the history's registers
            sub.energy_kwh, sub.volume_m3 = float(counters.energy_kwh[i]), float(counters.volume_m3[i])
            sub.last_time = counters.at
            sub.last_state = compute_state(sub.building, counters.at, outdoor_temperature(counters.at))
        if spec.code in FAULTS:
            _apply_fault(server, FAULTS[spec.code])
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    started = threading.Event()
    failure: list[BaseException] = []

    def collector_for_bound_ports() -> Collector:
        with db.pool.connection() as conn:
            conn.execute("UPDATE devices d SET port = p.port FROM unnest(%s::text[], %s::int[]) AS p(code, port) "
                         "WHERE d.code = p.code AND d.port <> p.port",
                         ([d.code for spec in simulator.specs for d in spec.devices],
                          [spec.port for spec in simulator.specs for _ in spec.devices]))
            devices = read_device_configs(conn, profiles, Shard(0, 1))
        return Collector(devices, connector(db.url), settings.data_dir / "demo-collector-buffer.sqlite",
                         poll_settings(settings))

    async def main() -> None:
        await simulator.start()
        try:
            collector = await asyncio.to_thread(collector_for_bound_ports)
            task = asyncio.create_task(collector.run())
            started.set()
            await stop.wait()
            collector.request_stop()
            await task
        finally:
            await simulator.stop()

    def run() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # reported to the main thread
            failure.append(exc)
            started.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="demo-live", daemon=True)
    thread.start()
    started.wait(60)
    if failure:
        raise RegieError(f"the simulated substations could not start: {failure[0]}")
    try:
        yield [spec.port for spec in simulator.specs]
    finally:
        if not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        thread.join(30)


@contextmanager
def background(target: Callable[[threading.Event], None], name: str) -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=target, args=(stop,), name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)


def maintenance(db: Database, settings: Settings, weather: SimulatedWeather, stop: threading.Event) -> None:
    """The scheduler's jobs every minute, from once the collector has polled every device (before, the
    devices would look silent since the history's last row)."""
    from regie_chaleur.services.maintenance import run_maintenance_loop

    if not stop.wait(FIRST_MAINTENANCE_S):
        run_maintenance_loop(db.pool, stop, 60.0, settings.notifier(), weather=weather, field=settings.field_jobs())
