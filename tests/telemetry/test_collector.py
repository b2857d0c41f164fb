"""The collector into PostgreSQL: quality kept, store-and-forward through a 60 s outage, replays
harmless, a bounded buffer, SIGTERM flushes, SIGKILL loses and doubles nothing."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from regie_chaleur.db.database import Database
from regie_chaleur.registry.store import import_inventory_text
from regie_chaleur.services.telemetry import fleet_inventory
from telemetry.buffer import StoreAndForwardBuffer
from telemetry.collector import Collector, ForwardSettings, connector
from telemetry.poller import DeviceConfig, PollSettings
from telemetry.profiles import Profile, load_profiles, shipped_profile_paths
from telemetry.quality import Quality
from telemetry.samples import Reading, loads
from telemetry.writer import write_readings
from tests.support.collector import expected_wide, run_collector, wide_keys
from tests.support.sim import SimulatorThread, fast_profiles, running_fleet
from tests.support.sim import device_configs as sim_device_configs
from tests.support.tcp_proxy import TcpProxy


@pytest.fixture(scope="module")
def profiles() -> dict[str, Profile]:
    return fast_profiles(0.5)


@pytest.fixture(scope="module")
def fleet(profiles: dict[str, Profile]) -> Iterator[SimulatorThread]:
    with running_fleet(6, profiles, base_address="127.3.0.0") as sim:
        yield sim


def device_configs(sim: SimulatorThread, profiles: dict[str, Profile]) -> list[DeviceConfig]:
    return sim_device_configs(sim, profiles, first_id=100)


def test_collector_writes_values_with_quality_and_health(db: Database, fleet: SimulatorThread,
                                                         profiles: dict[str, Profile], tmp_path: Path) -> None:
    dead = fleet.simulator.specs[5].devices[1]
    fleet.simulator.device(dead.code).faults.exception_code = 4
    try:
        collector = Collector(device_configs(fleet, profiles), connector(db.url), tmp_path / "buffer.sqlite",
                              PollSettings(timeout_s=0.5, retries=0), metrics_port=None)
        emitted = run_collector(collector, 2.5)
    finally:
        fleet.simulator.device(dead.code).faults.clear()
    with db.pool.connection() as conn:
        keys = wide_keys(conn)
        narrow = conn.execute("SELECT count(*) FROM device_samples").fetchone()
        comm_errors = conn.execute(
            "SELECT count(*) FROM substation_samples WHERE t_outdoor_q = 5 AND t_outdoor IS NULL").fetchone()
        good_temps = conn.execute(
            "SELECT min(t_supply_primary), max(t_supply_primary) FROM substation_samples WHERE t_supply_primary_q = 0"
        ).fetchone()
        health = dict(conn.execute("SELECT device_id, consecutive_failures FROM device_health").fetchall())
    assert set(keys) == expected_wide(emitted)
    assert len(keys) == len(set(keys))
    assert narrow is not None
    assert narrow[0] == sum(len(r.narrow_rows()) for r in emitted)
    assert comm_errors is not None
    assert comm_errors[0] > 0  # the failing controller's blocks are stored as communication errors
    assert good_temps is not None
    assert 60 < good_temps[0] <= good_temps[1] < 110
    assert len(health) == len(device_configs(fleet, profiles))
    assert collector.stats.buffer_dropped_samples == 0


def test_replayed_batch_inserts_nothing(db: Database) -> None:
    now = datetime.now(UTC)
    readings = [Reading(now, 7, {"power": (12.5, Quality.GOOD), "alarm_status": (0.0, Quality.GOOD)})]
    with db.pool.connection() as conn:
        first = write_readings(conn, readings)
        again = write_readings(conn, readings)
    assert (first.rows_inserted, again.rows_inserted) == (2, 0)


def test_buffer_is_bounded_and_drops_the_oldest(tmp_path: Path) -> None:
    buffer = StoreAndForwardBuffer(tmp_path / "b.sqlite", max_samples=10)
    batch = [Reading(datetime.now(UTC), 1, {"power": (1.0, Quality.GOOD), "flow": (2.0, Quality.GOOD)})]
    dropped = [buffer.append(batch * 2) for _ in range(4)]
    assert dropped == [0, 0, 4, 4]
    assert (buffer.pending_batches, buffer.pending_samples) == (2, 8)
    buffer.close()
    reopened = StoreAndForwardBuffer(tmp_path / "b.sqlite", max_samples=10)
    assert reopened.pending_samples == 8  # durable across a restart
    reopened.close()


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_database_outage_of_60_s_loses_and_doubles_nothing(db: Database, fleet: SimulatorThread,
                                                           profiles: dict[str, Profile], tmp_path: Path) -> None:
    proxy, url = TcpProxy.for_postgres(db.url)
    collector = Collector(device_configs(fleet, profiles)[:6], connector(url), tmp_path / "buffer.sqlite",
                          PollSettings(timeout_s=0.5), ForwardSettings(retry_max_s=2.0))
    observed: dict[str, int] = {}

    def outage() -> None:
        time.sleep(2)
        proxy.stop()
        time.sleep(60)
        observed["buffered_during_outage"] = collector.buffer.pending_batches
        observed["failures"] = collector.stats.db_write_failures
        proxy.start()
        deadline = time.monotonic() + 60
        while collector.buffer.pending_batches > 1 and time.monotonic() < deadline:
            time.sleep(0.5)  # the backlog is forwarded oldest first

    try:
        emitted = run_collector(collector, 0, outage)
    finally:
        proxy.stop()
    with db.pool.connection() as conn:
        keys = wide_keys(conn)
        narrow = conn.execute("SELECT count(*) FROM device_samples").fetchone()
    assert observed["buffered_during_outage"] > 50
    assert observed["failures"] > 0
    assert set(keys) == expected_wide(emitted)  # every reading, exactly once
    assert len(keys) == len(set(keys))
    assert narrow == (sum(len(r.narrow_rows()) for r in emitted),)
    assert collector.buffer.pending_batches == 0


def _fast_profile_dir(folder: Path, interval: float) -> Path:
    folder.mkdir()
    for name, path in shipped_profile_paths().items():
        doc = yaml.safe_load(path.read_text())
        doc["poll_groups"] = dict.fromkeys(doc["poll_groups"], interval)
        doc.pop("inter_request_delay_s", None)
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True))
    return folder


def _pending(buffer_file: Path) -> set[tuple[int, datetime]]:
    with sqlite3.connect(buffer_file) as conn:
        payloads = [r[0] for r in conn.execute("SELECT payload FROM batches")]
    return {(r.device_id, r.time) for p in payloads for r in loads(p) if r.wide_row() is not None}


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_sigkill_mid_batch_then_restart_loses_and_doubles_nothing(db: Database, tmp_path: Path) -> None:
    with running_fleet(10, fast_profiles(0.25), base_address="127.4.0.0") as sim:
        with db.pool.connection() as conn:
            import_inventory_text(conn, fleet_inventory(sim.simulator.specs), "fleet.yaml",
                                  profiles=load_profiles())
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("REGIE_")},
               "REGIE_MODE": "development", "REGIE_DATABASE_URL": db.url, "REGIE_DATA_DIR": str(tmp_path),
               "REGIE_PROFILES_DIR": str(_fast_profile_dir(tmp_path / "profiles", 0.25)),
               "REGIE_COLLECTOR_TIMEOUT_S": "0.5"}
        buffer_file = tmp_path / "collector-buffer-0-of-1.sqlite"
        survivors: set[tuple[int, datetime]] = set()
        for _ in range(3):
            proc = subprocess.Popen([sys.executable, "-m", "regie_chaleur.cli", "collect"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(3.0)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            survivors |= _pending(buffer_file)  # in the buffer at the kill: must reach the database
        proc = subprocess.Popen([sys.executable, "-m", "regie_chaleur.cli", "collect"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(3.0)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    assert _pending(buffer_file) == set()  # SIGTERM flushed everything
    with db.pool.connection() as conn:
        keys = wide_keys(conn)
        per_device = conn.execute(
            "SELECT device_id, count(*) FROM substation_samples GROUP BY 1").fetchall()
    assert survivors <= set(keys)
    assert len(keys) == len(set(keys))
    assert len(per_device) == 20
    assert all(n > 20 for _, n in per_device)


def test_metrics_endpoint_serves_prometheus_text(db: Database, fleet: SimulatorThread,
                                                 profiles: dict[str, Profile], tmp_path: Path) -> None:
    import httpx

    collector = Collector(device_configs(fleet, profiles)[:4], connector(db.url), tmp_path / "b.sqlite",
                          PollSettings(timeout_s=0.5), metrics_port=0)
    seen: dict[str, str] = {}

    def scrape() -> None:
        time.sleep(1.5)
        port = collector.metrics_port
        seen["metrics"] = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        seen["missing"] = str(httpx.get(f"http://127.0.0.1:{port}/other").status_code)

    run_collector(collector, 0, scrape)
    text = seen["metrics"]
    assert "# TYPE regie_collector_samples_committed_total counter" in text
    assert 'regie_device_polls_total{device="SIM-00001-MTR"}' in text
    assert 'regie_collector_requests_total{function="4"}' in text
    assert "regie_collector_database_up 1" in text
    assert "regie_collector_buffer_oldest_age_seconds" in text
    assert seen["missing"] == "404"
