"""bench/collector: the collector against a simulated fleet and TimescaleDB, beside its peers.

Runs, in one invocation: the simulator (one process, one loopback address per substation), the
collector (`regie-chaleur collect`, its own process) and PostgreSQL/TimescaleDB (the local server,
or REGIE_BENCH_DATABASE_URL), for each added response latency; then the peers on the same simulator:
a sequential poller (one request at a time, as Telegraf and mbpoll do), Debian's `mbpoll` (one
process per request), and the raw COPY rate of the same rows into the same table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import ensure_debian_package, process_cpu_seconds, record, scratch_database, table
from regie_chaleur.services.telemetry import fleet_inventory
from telemetry.planning import plan_blocks
from telemetry.poller import READ_METHODS
from telemetry.profiles import load_profile, shipped_profile_paths
from telemetry.quality import Quality
from telemetry.samples import WIDE_QUANTITIES, Reading
from telemetry.simulator.fleet import fleet_specs
from telemetry.writer import write_readings

CLI = [sys.executable, "-m", "regie_chaleur.cli"]
METRIC = re.compile(r'^([a-z_]+)(\{[^}]*\})? (\S+)$')


def env_for(url: str, data_dir: Path, profiles_dir: Path, metrics_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGIE_")}
    env.update({"REGIE_MODE": "development", "REGIE_DATABASE_URL": url, "REGIE_DATA_DIR": str(data_dir),
                "REGIE_PROFILES_DIR": str(profiles_dir), "REGIE_COLLECTOR_METRICS_PORT": str(metrics_port),
                "REGIE_COLLECTOR_TIMEOUT_S": "2.0", "REGIE_LOG_LEVEL": "INFO"})
    return env


def profiles_at(folder: Path, interval: float) -> Path:
    """The shipped profiles with every poll group at ``interval`` seconds."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, path in shipped_profile_paths().items():
        doc = yaml.safe_load(path.read_text())
        doc["poll_groups"] = dict.fromkeys(doc["poll_groups"], interval)
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True))
    return folder


def scrape(port: int) -> dict[str, float]:
    """Sum of each metric over its labels, plus the latency quantiles."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = METRIC.match(line)
        if not m:
            continue
        name, labels, value = m.group(1), m.group(2) or "", float(m.group(3))
        if "quantile" in labels:
            out[f"{name}{labels}"] = value
        else:
            out[name] = out.get(name, 0.0) + value
    return out


def start_simulator(substations: int, port: int, latency_ms: float, workdir: Path,
                    resetting_share: float = 0.0) -> subprocess.Popen[bytes]:
    ready = workdir / f"sim-ready-{latency_ms:g}"
    ready.unlink(missing_ok=True)
    proc = subprocess.Popen([*CLI, "simulate", "--substations", str(substations), "--port", str(port),
                             "--latency-ms", str(latency_ms), "--ready-file", str(ready),
                             "--resetting-share", str(resetting_share)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "REGIE_MODE": "development"})
    deadline = time.monotonic() + 600
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the simulator did not start")
        time.sleep(0.5)
    return proc


def db_samples(url: str) -> tuple[int, int, int]:
    """(values stored, rows, distinct keys) over both sample tables."""
    qualities = " + ".join(f"({q}_q IS NOT NULL)::int" for q in WIDE_QUANTITIES)
    with psycopg.connect(url) as conn:
        wide = conn.execute(f"SELECT coalesce(sum({qualities}), 0), count(*), "
                            "count(DISTINCT (device_id, time)) FROM substation_samples").fetchone()
        narrow = conn.execute(
            "SELECT count(*), count(DISTINCT (device_id, point, time)) FROM device_samples").fetchone()
    assert wide is not None and narrow is not None
    return int(wide[0]) + int(narrow[0]), int(wide[1]) + int(narrow[0]), int(wide[2]) + int(narrow[1])


def run_fleet(url: str, args: argparse.Namespace, latency_ms: float, workdir: Path, profiles_dir: Path,
              blocks_per_substation: float, resetting_share: float = 0.0) -> dict[str, object]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE substation_samples, device_samples, device_health")
    sim = start_simulator(args.substations, args.port, latency_ms, workdir, resetting_share)
    metrics_port = 9400 + int(latency_ms) + int(resetting_share * 1000)
    data_dir = workdir / f"collector-{latency_ms:g}-{resetting_share:g}"
    collector = subprocess.Popen([*CLI, "collect"], env=env_for(url, data_dir, profiles_dir, metrics_port),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(args.warmup)
        m0, cpu0, t0 = scrape(metrics_port), process_cpu_seconds(collector.pid), time.monotonic()
        time.sleep(args.measure)
        m1, cpu1, t1 = scrape(metrics_port), process_cpu_seconds(collector.pid), time.monotonic()
        collector.send_signal(signal.SIGTERM)
        _, err = collector.communicate(timeout=300)
    finally:
        if collector.poll() is None:
            collector.kill()
        sim.send_signal(signal.SIGTERM)
        sim.wait(120)
    final = re.search(r"collector stopped: (\d+) values emitted, (\d+) values committed, (\d+) batches left", err)
    if final is None:
        raise RuntimeError(f"collector did not stop cleanly:\n{err[-3000:]}")
    emitted, committed, left = (int(x) for x in final.groups())
    stored, rows, distinct = db_samples(url)
    elapsed = t1 - t0
    successes = m1["regie_device_successes_total"] - m0["regie_device_successes_total"]
    return {
        "substations": args.substations, "interval_s": args.interval, "added_latency_ms": latency_ms,
        "duration_s": round(elapsed, 1),
        "polls_per_s": round(successes / elapsed / blocks_per_substation, 1),
        "samples_committed_per_s": round((m1["regie_collector_samples_committed_total"]
                                          - m0["regie_collector_samples_committed_total"]) / elapsed, 1),
        "lost_samples": emitted - stored,
        "duplicate_samples": rows - distinct,
        "p50_response_to_commit_s": round(m1['regie_collector_response_to_commit_seconds{quantile="0.5"}'], 3),
        "p99_response_to_commit_s": round(m1['regie_collector_response_to_commit_seconds{quantile="0.99"}'], 3),
        "collector_cpu_percent": round(100 * (cpu1 - cpu0) / elapsed, 1),
        "resetting_device_share": resetting_share,
        "retried_ok": int(m1["regie_collector_retried_ok_total"] - m0["regie_collector_retried_ok_total"]),
        "good_poll_share_pct": round(100 * successes / max(1.0, m1["regie_device_polls_total"]
                                                           - m0["regie_device_polls_total"]), 2),
        "_committed": committed, "_left": left, "_requests_per_s": round(successes / elapsed, 1),
        "_comm_errors_per_s": round((m1["regie_device_polls_total"] - m0["regie_device_polls_total"] - successes)
                                    / elapsed, 2),
    }


async def sequential_poller(specs: list, profiles: dict, seconds: float) -> float:  # type: ignore[type-arg]
    """One request at a time over the fleet, connecting to each substation in turn [requests/s]."""
    from pymodbus.client import AsyncModbusTcpClient

    done = 0
    started = time.monotonic()
    i = 0
    while time.monotonic() - started < seconds:
        spec = specs[i % len(specs)]
        i += 1
        client = AsyncModbusTcpClient(spec.host, port=spec.port, timeout=2, retries=0)
        await client.connect()
        for d in spec.devices:
            for block in plan_blocks(profiles[d.profile]):
                response = await getattr(client, READ_METHODS[block.function])(block.start, count=block.count,
                                                                               device_id=d.unit_id)
                done += not response.isError()
        client.close()
    return done / (time.monotonic() - started)


def mbpoll_rate(specs: list, seconds: float) -> float | None:  # type: ignore[type-arg]
    """Debian's mbpoll, one process per request (`-1`) over the fleet's meters [requests/s]."""
    if not ensure_debian_package("mbpoll", "mbpoll"):
        return None
    done = 0
    started = time.monotonic()
    i = 0
    while time.monotonic() - started < seconds:
        spec = specs[i % len(specs)]
        i += 1
        out = subprocess.run(["mbpoll", "-m", "tcp", "-p", str(spec.port), "-a", "1", "-0", "-r", "0", "-c", "12",
                              "-t", "3", "-1", "-o", "2", spec.host], capture_output=True, text=True, check=False)
        done += out.returncode == 0 and "[0]:" in out.stdout
    return done / (time.monotonic() - started)


def copy_rate(url: str, rows: int) -> float:
    """Raw binary COPY of collector-shaped wide rows into substation_samples [rows/s]."""
    now = datetime.now(UTC).timestamp()
    readings = [Reading(datetime.fromtimestamp(now + i * 1e-3, UTC), i % 10_000, {
        "power": (120.0, Quality.GOOD), "flow": (3.1, Quality.GOOD), "t_supply_primary": (85.2, Quality.GOOD),
        "t_return_primary": (48.9, Quality.GOOD), "energy": (123456.7, Quality.GOOD),
        "volume": (2345.6, Quality.GOOD)}) for i in range(rows)]
    wide = [r.wide_row() for r in readings]
    from telemetry.samples import WIDE_COLUMNS
    from telemetry.writer import _WIDE_TYPES

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE substation_samples")
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur, cur.copy(
            f"COPY substation_samples ({', '.join(WIDE_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(_WIDE_TYPES)
            for row in wide:
                copy.write_row(row)
        raw = rows / (time.perf_counter() - started)
        conn.execute("TRUNCATE substation_samples")
        started = time.perf_counter()
        for i in range(0, rows, 5000):
            write_readings(conn, readings[i:i + 5000])
        print(f"  (collector writer path, staging + ON CONFLICT: {rows / (time.perf_counter() - started):,.0f} rows/s)")
    return raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--substations", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=60.0, help="poll interval of every block [s]")
    parser.add_argument("--warmup", type=float, default=90.0, help="[s] before measuring (connects, stagger)")
    parser.add_argument("--measure", type=float, default=180.0, help="[s] measured window")
    parser.add_argument("--latencies", default="0,20", help="added response latencies [ms], comma-separated")
    parser.add_argument("--port", type=int, default=5020)
    parser.add_argument("--peer-seconds", type=float, default=20.0)
    parser.add_argument("--resetting-share", type=float, default=0.01,
                        help="a further run with this share of meters resetting every other request (0: none)")
    args = parser.parse_args()

    specs = fleet_specs(args.substations, args.port)
    with tempfile.TemporaryDirectory() as tmp, scratch_database("regie_bench_collector") as url:
        workdir = Path(tmp)
        profiles_dir = profiles_at(workdir / "profiles", args.interval)
        profiles = {p.stem: load_profile(p) for p in profiles_dir.glob("*.yaml")}
        blocks = sum(len(plan_blocks(profiles[d.profile])) for s in specs for d in s.devices) / len(specs)
        env = env_for(url, workdir, profiles_dir, 9399)
        subprocess.run([*CLI, "db", "migrate"], env=env, check=True, capture_output=True)
        inventory = workdir / "fleet.yaml"
        inventory.write_text(fleet_inventory(specs))
        print(f"importing {args.substations} substations...", flush=True)
        subprocess.run([*CLI, "network", "import", str(inventory)], env=env, check=True, capture_output=True)
        with psycopg.connect(url) as conn:
            mode = "timescaledb" if conn.execute(
                "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone() else "plain PostgreSQL"

        runs = []
        for latency in (float(x) for x in args.latencies.split(",")):
            print(f"run: {args.substations} substations, {args.interval:g} s, +{latency:g} ms...", flush=True)
            runs.append(run_fleet(url, args, latency, workdir, profiles_dir, blocks))
            print("  ", runs[-1], flush=True)
        if args.resetting_share > 0:
            print(f"run: {args.resetting_share:.0%} of the meters reset every other request...", flush=True)
            runs.append(run_fleet(url, args, 0.0, workdir, profiles_dir, blocks, args.resetting_share))
            print("  ", runs[-1], flush=True)

        print("peers...", flush=True)
        sim = start_simulator(min(args.substations, 1000), args.port, 0.0, workdir)
        try:
            sequential = asyncio.run(sequential_poller(specs[:1000], profiles, args.peer_seconds))
            mbpoll = mbpoll_rate(specs[:1000], args.peer_seconds)
        finally:
            sim.send_signal(signal.SIGTERM)
            sim.wait(60)
        slow_latency = max(float(x) for x in args.latencies.split(","))
        sim = start_simulator(min(args.substations, 1000), args.port, slow_latency, workdir)
        try:
            sequential_slow = asyncio.run(sequential_poller(specs[:1000], profiles, args.peer_seconds))
        finally:
            sim.send_signal(signal.SIGTERM)
            sim.wait(60)
        copy = copy_rate(url, 200_000)

    needed = args.substations * blocks / args.interval
    rows = [[r["substations"], f"{r['interval_s']:g}", f"{r['added_latency_ms']:g}",
             f"{100 * float(r['resetting_device_share']):g} %", r["duration_s"],
             r["polls_per_s"], r["_requests_per_s"], r["samples_committed_per_s"], r["lost_samples"],
             r["duplicate_samples"], r["p50_response_to_commit_s"], r["p99_response_to_commit_s"],
             r["collector_cpu_percent"], r["retried_ok"], r["good_poll_share_pct"]] for r in runs]
    body = table(["substations", "interval s", "added latency ms", "meters resetting", "measured s",
                  "substations polled/s", "requests/s", "values committed/s", "lost", "duplicates",
                  "p50 response→commit s", "p99 response→commit s", "collector CPU %", "saved by a retry",
                  "good polls %"], rows)
    body += "\n\n" + table(["peer on the same simulator / database", "figure"], [
        ["needed by the fleet (requests/s)", f"{needed:,.0f}"],
        ["sequential poller, one request at a time (requests/s)", f"{sequential:,.0f}"],
        [f"sequential poller with +{slow_latency:g} ms per answer (requests/s)", f"{sequential_slow:,.0f}"],
        ["Debian mbpoll, one process per request (requests/s)", f"{mbpoll:,.0f}" if mbpoll else "not available"],
        ["raw binary COPY of the same wide rows (rows/s)", f"{copy:,.0f}"],
    ])
    body += (f"\n\nDatabase: {mode}. Each substation serves a heat meter and a controller on its own loopback "
             f"address; {blocks:.1f} block reads per substation per interval. 'Substations polled/s' = "
             f"successful block reads/s ÷ {blocks:.1f}. Lost = values emitted by the collector minus values "
             "found in the database after its SIGTERM flush; duplicates = rows minus distinct keys. "
             f"Statistic over {statistics.mean([r['duration_s'] for r in runs]):.0f} s measured windows after "
             f"{args.warmup:g} s of warm-up.")
    extra = ("resetting_device_share", "retried_ok", "good_poll_share_pct")  # in the table; JSON keeps its keys
    clean = [r for r in runs if not r["resetting_device_share"]]
    faulty = [r for r in runs if r["resetting_device_share"]]
    data = {"runs": [{k: v for k, v in r.items() if not k.startswith("_") and k not in extra} for r in clean],
            "retried_ok": faulty[0]["retried_ok"] if faulty else None,
            "peers": {"sequential_requests_per_s": round(sequential, 1),
                      "mbpoll_requests_per_s": round(mbpoll, 1) if mbpoll else None,
                      "copy_rows_per_s": round(copy, 1)}}
    record("collector", "Collector: simulated fleet into the database", body, data)


if __name__ == "__main__":
    main()
