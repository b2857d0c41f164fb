"""A database that hangs instead of refusing: its connections stay open and no byte passes (a black
hole, as a firewall dropping packets or a partitioned network makes). Readings still reach the disk,
the outage is logged once when it starts and once when it ends, a stop inside it is prompt, and after
a restart every reading lands exactly once."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from regie_chaleur.db.database import Database
from regie_chaleur.registry.store import import_inventory_text
from regie_chaleur.services.telemetry import fleet_inventory
from telemetry.collector import Collector, ForwardSettings, connector
from telemetry.poller import PollSettings
from telemetry.profiles import Profile, load_profiles
from tests.support.collector import expected_wide, run_collector, wide_keys
from tests.support.sim import SimulatorThread, device_configs, fast_profiles, running_fleet
from tests.support.tcp_proxy import TcpProxy

FORWARD = ForwardSettings(write_timeout_s=3.0, retry_max_s=1.0, shutdown_timeout_s=5.0)


@pytest.fixture(scope="module")
def profiles() -> dict[str, Profile]:
    return fast_profiles(0.5)


@pytest.fixture(scope="module")
def fleet(profiles: dict[str, Profile]) -> Iterator[SimulatorThread]:
    with running_fleet(4, profiles, base_address="127.6.0.0") as sim:
        yield sim


def _buffered(collector: Collector) -> set[tuple[int, object]]:
    import sqlite3

    from telemetry.samples import loads

    with sqlite3.connect(collector.buffer.path) as conn:
        payloads = [r[0] for r in conn.execute("SELECT payload FROM batches")]
    return {(r.device_id, r.time) for p in payloads for r in loads(p) if r.wide_row() is not None}


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_black_hole_of_60_s_with_a_stop_inside_loses_and_doubles_nothing(
        db: Database, fleet: SimulatorThread, profiles: dict[str, Profile], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="telemetry.collector")
    proxy, url = TcpProxy.for_postgres(db.url)
    configs = device_configs(fleet, profiles, first_id=300)
    collector = Collector(configs, connector(url), tmp_path / "buffer.sqlite", PollSettings(timeout_s=0.5), FORWARD)
    seen: dict[str, float] = {}

    def partitions() -> None:
        time.sleep(2)
        committed_before = collector.stats.samples_committed
        proxy.black_hole()  # 1. sixty seconds of silence, then the path returns
        time.sleep(60)
        seen["pending_in_hole"] = collector.buffer.pending_batches
        seen["oldest_age_in_hole"] = collector.buffer.oldest_age_s()
        seen["up_in_hole"] = float(collector.stats.database_up)
        seen["committed_in_hole"] = collector.stats.samples_committed - committed_before
        proxy.resume()
        time.sleep(8)
        seen["pending_after"] = collector.buffer.pending_batches
        proxy.black_hole()  # 2. silence again, and the stop arrives inside it
        time.sleep(4)
        seen["stop_requested"] = time.monotonic()

    try:
        emitted = run_collector(collector, 0, partitions)
        stop_s = time.monotonic() - seen["stop_requested"]
        held = _buffered(collector)
        with db.pool.connection() as conn:
            committed = set(wide_keys(conn))
        proxy.resume()
        # restart: a collector with nothing to poll forwards what the first one left in the buffer
        restarted = Collector([], connector(url), tmp_path / "buffer.sqlite", PollSettings(), FORWARD)
        run_collector(restarted, 3.0)
    finally:
        proxy.stop()
    expected = expected_wide(emitted)
    with db.pool.connection() as conn:
        keys = wide_keys(conn)
    assert seen["pending_in_hole"] > 50  # the readings reached the disk all along
    assert seen["oldest_age_in_hole"] > 40
    assert seen["up_in_hole"] == 0.0
    assert seen["committed_in_hole"] == 0
    assert seen["pending_after"] <= 2  # the backlog was forwarded once the path returned
    assert stop_s < 15, stop_s
    assert committed | held == expected  # at the stop, every reading was committed or in the buffer
    assert len(keys) == len(expected) == len(set(keys))  # after the restart: every reading, exactly once
    assert set(keys) == expected
    assert restarted.buffer.pending_batches == 0
    messages = [r.getMessage() for r in caplog.records if r.name == "telemetry.collector"]
    assert sum(m.startswith("database unavailable") for m in messages) == 2  # once per outage
    assert sum(m.startswith("database available again") for m in messages) == 1  # the first outage ended


def _env(db: Database, tmp_path: Path, url: str) -> dict[str, str]:
    profiles_dir = tmp_path / "profiles"
    profiles_dir.mkdir()
    import yaml

    from telemetry.profiles import shipped_profile_paths

    for name, path in shipped_profile_paths().items():
        doc = yaml.safe_load(path.read_text())
        doc["poll_groups"] = dict.fromkeys(doc["poll_groups"], 0.5)
        doc.pop("inter_request_delay_s", None)
        (profiles_dir / f"{name}.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True))
    return {**{k: v for k, v in os.environ.items() if not k.startswith("REGIE_")},
            "REGIE_MODE": "development", "REGIE_DATABASE_URL": url, "REGIE_DATA_DIR": str(tmp_path),
            "REGIE_PROFILES_DIR": str(profiles_dir), "REGIE_COLLECTOR_TIMEOUT_S": "0.5"}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigterm_inside_a_black_hole_exits_within_15_s(db: Database, fleet: SimulatorThread,
                                                       tmp_path: Path) -> None:
    with db.pool.connection() as conn:
        import_inventory_text(conn, fleet_inventory(fleet.simulator.specs), "fleet.yaml",
                              profiles=load_profiles())
    proxy, url = TcpProxy.for_postgres(db.url)
    env = _env(db, tmp_path, url)
    buffer_file = tmp_path / "collector-buffer-0-of-1.sqlite"
    try:
        proc = subprocess.Popen([sys.executable, "-m", "regie_chaleur.cli", "collect"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(4)
        proxy.black_hole()
        time.sleep(8)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        elapsed = time.monotonic() - started
        assert proc.returncode == 0, err
        assert elapsed < 15, (elapsed, err[-2000:])
        assert "database unavailable" in err
        proxy.resume()
        proc = subprocess.Popen([sys.executable, "-m", "regie_chaleur.cli", "collect"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(4)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    finally:
        proxy.stop()
    import sqlite3

    with sqlite3.connect(buffer_file) as conn:
        assert conn.execute("SELECT count(*) FROM batches").fetchone() == (0,)
    with db.pool.connection() as conn:
        per_device = dict(conn.execute("SELECT device_id, count(*) FROM substation_samples GROUP BY 1").fetchall())
    assert len(per_device) == 8
    assert all(n > 10 for n in per_device.values())

