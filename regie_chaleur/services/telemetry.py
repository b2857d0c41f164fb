"""Wires the telemetry package: devices from the registry, the collector and the simulator."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass
from pathlib import Path

import psycopg

from regie_chaleur.errors import RegieError
from regie_chaleur.settings import Settings
from telemetry.collector import Collector, connection_options, connector
from telemetry.poller import DeviceConfig, PollSettings
from telemetry.profiles import Profile, get_profile, load_profiles
from telemetry.simulator.fleet import SimulatedSubstationSpec, Simulator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shard:
    """This collector's part of the fleet: substations whose id ≡ index (mod count)."""

    index: int = 0
    count: int = 1

    @staticmethod
    def parse(text: str) -> Shard:
        try:
            i, n = (int(x) for x in text.split("/"))
        except ValueError:
            raise RegieError(f"--shard {text!r}: expected i/n, e.g. 0/4") from None
        if not (n >= 1 and 0 <= i < n):
            raise RegieError(f"--shard {text!r}: need 0 <= i < n")
        return Shard(i, n)


def profiles_for(settings: Settings) -> dict[str, Profile]:
    return load_profiles([settings.profiles_dir] if settings.profiles_dir else None)


def read_device_configs(conn: psycopg.Connection, profiles: dict[str, Profile], shard: Shard) -> list[DeviceConfig]:
    """The enabled devices of the registry in this shard (by substation, or plant, id)."""
    rows = conn.execute(
        """SELECT id, code, host, port, unit_id, profile FROM devices
           WHERE enabled AND mod(coalesce(substation_id, plant_id), %s) = %s ORDER BY id""",
        (shard.count, shard.index),
    ).fetchall()
    return [DeviceConfig(device_id=r[0], code=r[1], host=r[2], port=r[3], unit_id=r[4],
                         profile=get_profile(profiles, r[5])) for r in rows]


def poll_settings(settings: Settings) -> PollSettings:
    return PollSettings(timeout_s=settings.collector_timeout_s, retries=settings.collector_retries,
                        backoff_initial_s=settings.collector_backoff_initial_s,
                        backoff_max_s=settings.collector_backoff_max_s)


def run_collector(settings: Settings, url: str, shard: Shard) -> int:
    """Run the collector for this shard until SIGTERM/SIGINT; flushes before returning."""
    profiles = profiles_for(settings)
    with psycopg.connect(url, **connection_options()) as conn:  # type: ignore[arg-type]
        devices = read_device_configs(conn, profiles, shard)
    if not devices:
        log.warning("no enabled device in shard %d/%d of the registry", shard.index, shard.count)
    buffer = settings.data_dir / f"collector-buffer-{shard.index}-of-{shard.count}.sqlite"
    collector = Collector(devices, connector(url), buffer, poll_settings(settings),
                          metrics_port=settings.collector_metrics_port,
                          buffer_max_samples=settings.collector_buffer_max_samples)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, collector.request_stop)
        print(f"regie-chaleur collect: {len(devices)} devices, shard {shard.index}/{shard.count}, "
              f"buffer {buffer}", flush=True)
        await collector.run()

    asyncio.run(main())
    return 0


def run_simulator(specs: list[SimulatedSubstationSpec], profiles: dict[str, Profile], latency_s: float,
                  ready: Path | None = None, resetting_share: float = 0.0) -> int:
    """Serve the fleet until SIGTERM/SIGINT.

    Args:
        resetting_share: share of the substations (spread evenly) whose meter resets the connection on
            every other request.
    """
    simulator = Simulator(specs, profiles, latency_s)
    if resetting_share > 0:
        every = max(1, round(1 / resetting_share))
        for spec in specs[::every]:
            simulator.servers[spec.code].devices[spec.devices[0].unit_id].faults.reset_every = 2

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await simulator.start()
        print(f"regie-chaleur simulate: {len(specs)} substations serving "
              f"({specs[0].host}..{specs[-1].host}:{specs[0].port})" if specs else "no substation", flush=True)
        if ready is not None:
            ready.write_text("ready\n")
        await stop.wait()
        await simulator.stop()

    asyncio.run(main())
    return 0


def fleet_inventory(specs: list[SimulatedSubstationSpec], network: str = "sim") -> str:
    """A registry inventory (YAML) of a simulated fleet, for ``network import``."""
    import yaml

    doc: dict[str, list[dict[str, object]]] = {
        "networks": [{"code": network, "name": "Réseau simulé"}], "substations": [], "devices": [], "meters": [],
        "delivery_points": [],
    }
    for s in specs:
        doc["substations"].append({"code": s.code, "name": f"Sous-station {s.code}", "network": network})
        for d in s.devices:
            doc["devices"].append({"code": d.code, "substation": s.code, "host": s.host, "port": s.port,
                                   "unit_id": d.unit_id, "profile": d.profile})
            if d.role == "meter":
                doc["meters"].append({"code": f"{d.code}-M", "device": d.code, "substation": s.code,
                                      "register_capacity_kwh": 100000000})
                doc["delivery_points"].append({"code": f"PDL-{s.code}", "name": f"Point de livraison {s.code}",
                                               "substation": s.code, "meter": f"{d.code}-M"})
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
