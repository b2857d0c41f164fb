"""bench/operations: operator queries on a year of 10-minute data for 1,000 substations.

Loads one year of history generated with the simulator's physics (one wide row per substation per
10 minutes, written with the telemetry writer's COPY path), builds the rollups, then times the
operator's queries through the rollups and the same figures computed from raw rows, and the alarm
evaluation pass over the whole fleet.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import record, scratch_database, table
from regie_chaleur.db.database import configure_session
from regie_chaleur.operations.alarms import evaluate_alarms
from regie_chaleur.operations.kpis import network_balance, substation_series
from regie_chaleur.operations.live import substation_statuses
from regie_chaleur.operations.rollups import refresh_operations
from regie_chaleur.services.telemetry import fleet_inventory
from telemetry.simulator.backfill import backfill
from telemetry.simulator.fleet import fleet_specs
from telemetry.writer import copy_readings

CLI = [sys.executable, "-m", "regie_chaleur.cli"]


def load_part(url: str, count: int, part: int, parts: int, start: datetime, end: datetime) -> int:
    specs = [s for i, s in enumerate(fleet_specs(count, with_controllers=False)) if i % parts == part]
    with psycopg.connect(url, autocommit=True) as conn:
        ids = dict(conn.execute("SELECT code, id FROM devices").fetchall())
        rows = 0
        batch = []
        for readings in backfill(specs, ids, start, end, timedelta(minutes=10), merged=True):
            batch += readings
            if len(batch) >= 50_000:
                rows += copy_readings(conn, batch)
                batch = []
        if batch:
            rows += copy_readings(conn, batch)
    return rows


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


RAW_STATUS = """SELECT d.substation_id, max(s.time), avg(s.t_supply_primary), avg(s.t_return_primary), avg(s.power)
                FROM substation_samples s JOIN devices d ON d.id = s.device_id
                WHERE s.time > %(now)s - interval '1 hour' GROUP BY 1"""
RAW_BALANCE = """SELECT sum(e) FROM (SELECT device_id, max(energy) - min(energy) AS e FROM substation_samples
                 WHERE time >= %(lo)s AND time < %(hi)s AND energy_q = 0 GROUP BY device_id) x"""
RAW_YEAR = """SELECT (time AT TIME ZONE 'Europe/Paris')::date, avg(t_supply_primary), avg(t_return_primary),
                     avg(t_outdoor), avg(power), max(energy) - min(energy)
              FROM substation_samples WHERE device_id = %(dev)s AND time >= %(lo)s AND time < %(hi)s
              GROUP BY 1 ORDER BY 1"""


def load_year(url: str, env: dict[str, str], tmp: str, substations: int, start: datetime,
              end: datetime) -> tuple[int, float, float]:
    """Import the fleet, load its year of 10-minute rows and build the rollups: rows, load s, rollup s."""
    inventory = Path(tmp) / "fleet.yaml"
    inventory.write_text(fleet_inventory(fleet_specs(substations, with_controllers=False)))
    subprocess.run([*CLI, "network", "import", str(inventory)], env=env, check=True, capture_output=True)
    print(f"loading {(end - start).days} days × {substations} substations at 10 min...", flush=True)
    started = time.perf_counter()
    parts = 2
    with multiprocessing.get_context("spawn").Pool(parts) as pool:
        raw_rows = sum(pool.starmap(load_part, [(url, substations, i, parts, start, end) for i in range(parts)]))
    load_s = time.perf_counter() - started
    print(f"  {raw_rows:,} rows in {load_s:.0f} s", flush=True)
    with psycopg.connect(url, autocommit=True) as conn:
        configure_session(conn)  # as the application's connections are
        conn.execute("VACUUM ANALYZE substation_samples")
        started = time.perf_counter()
        month = start
        while month < end:
            refresh_operations(conn, month, min(end, month + timedelta(days=31)))
            month += timedelta(days=31)
        rollup_s = time.perf_counter() - started
        conn.execute("VACUUM ANALYZE")
        print(f"  rollups built in {rollup_s:.0f} s", flush=True)
    return raw_rows, load_s, rollup_s


def earlier_run(url: str, substations: int, days: int) -> tuple[datetime, int, float, float] | None:
    """The end, rows, load and rollup times [s] of a kept run of the same size, if the database holds one."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_operations_run (substations int, days int, "
                     "end_time timestamptz, raw_rows bigint, load_s float8, rollup_s float8)")
        row = conn.execute("SELECT end_time, raw_rows, load_s, rollup_s FROM bench_operations_run "
                           "WHERE substations = %s AND days = %s", (substations, days)).fetchone()
    return (row[0].astimezone(UTC), row[1], row[2], row[3]) if row else None


def remember_run(url: str, substations: int, days: int, end: datetime, raw_rows: int, load_s: float,
                 rollup_s: float) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM bench_operations_run")
        conn.execute("INSERT INTO bench_operations_run VALUES (%s, %s, %s, %s, %s, %s)",
                     (substations, days, end, raw_rows, load_s, rollup_s))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--substations", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--keep", metavar="DATABASE",
                        help="load into this database and keep it; when it already holds a run's data for the same "
                             "fleet and days, measure on that data again (the load and rollup times are then the "
                             "earlier run's)")
    args = parser.parse_args()

    end = datetime.now(UTC).replace(second=0, microsecond=0)
    end -= timedelta(minutes=end.minute % 10)
    with tempfile.TemporaryDirectory() as tmp, scratch_database("regie_bench_operations", args.keep) as url:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("REGIE_")}, "REGIE_MODE": "development",
               "REGIE_DATABASE_URL": url, "REGIE_DATA_DIR": tmp}
        subprocess.run([*CLI, "db", "migrate"], env=env, check=True, capture_output=True)
        kept = earlier_run(url, args.substations, args.days)
        if kept:
            end, raw_rows, load_s, rollup_s = kept
            start = end - timedelta(days=args.days)
            print(f"measuring again on the data kept in {args.keep} (ending {end:%Y-%m-%d %H:%M} UTC)", flush=True)
        else:
            start = end - timedelta(days=args.days)
            raw_rows, load_s, rollup_s = load_year(url, env, tmp, args.substations, start, end)
            if args.keep:
                remember_run(url, args.substations, args.days, end, raw_rows, load_s, rollup_s)
        with psycopg.connect(url, autocommit=True) as conn:
            configure_session(conn)  # as the application's connections are
            mode = "TimescaleDB" if conn.execute(
                "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone() else "plain PostgreSQL"
            device = conn.execute("SELECT id FROM devices ORDER BY id LIMIT 1").fetchone()[0]  # type: ignore[index]
            code = "SIM-00001"
            now = end
            yesterday = (now - timedelta(days=1)).date()

            def overview_rollup() -> None:
                substation_statuses(conn, now, limit=100_000)
                network_balance(conn, yesterday, yesterday)

            def overview_raw() -> None:
                conn.execute(RAW_STATUS, {"now": now}).fetchall()
                lo = now - timedelta(days=1)
                conn.execute(RAW_BALANCE, {"lo": lo, "hi": now}).fetchall()

            def year_rollup() -> None:
                substation_series(conn, code, start, end, "day")

            def year_raw() -> None:
                conn.execute(RAW_YEAR, {"dev": device, "lo": start, "hi": end}).fetchall()

            def month_rollup() -> None:
                substation_series(conn, code, end - timedelta(days=31), end, "hour")

            def month_raw() -> None:
                conn.execute("SELECT date_bin('1 hour', time, '2000-01-03'::timestamptz), avg(power), "
                             "avg(t_return_primary) FROM substation_samples WHERE device_id = %s AND time >= %s "
                             "GROUP BY 1 ORDER BY 1", (device, end - timedelta(days=31))).fetchall()

            queries = []
            for name, rolled, raw in (("network overview", overview_rollup, overview_raw),
                                      ("one substation's year at daily resolution", year_rollup, year_raw),
                                      ("one substation's month at hourly resolution", month_rollup, month_raw)):
                timed(rolled, 2)
                timed(raw, 2)
                r = timed(rolled, args.runs)
                w = timed(raw, max(5, args.runs // 3))
                queries.append({"name": name, "rollup_ms_p50": round(statistics.median(r), 2),
                                "rollup_ms_p99": round(p(r, 0.99), 2), "raw_ms_p50": round(statistics.median(w), 2)})
                print("  ", queries[-1], flush=True)
            passes = []
            for _ in range(3):
                started = time.perf_counter()
                evaluate_alarms(conn, now)
                passes.append(time.perf_counter() - started)
            alarm_pass_s = statistics.median(passes)

    body = table(["query", "through rollups p50 ms", "through rollups p99 ms", "from raw rows p50 ms", "ratio"],
                 [[q["name"], q["rollup_ms_p50"], q["rollup_ms_p99"], q["raw_ms_p50"],
                   f"{q['raw_ms_p50'] / q['rollup_ms_p50']:.0f}×"] for q in queries])
    body += (f"\n\nAlarm evaluation pass over the {args.substations} substations: **{alarm_pass_s:.2f} s** "
             f"(median of 3). Data: {raw_rows:,} raw rows ({args.days} days × {args.substations} substations, "
             f"10-minute wide rows from the simulator's physics), loaded in {load_s:.0f} s with the telemetry "
             f"writer's COPY path (2 processes); rollups built in {rollup_s:.0f} s"
             f"{' (by an earlier run: these figures were measured again on the data it kept)' if kept else ''}"
             f". Database: {mode}. "
             f"Raw-row variants compute the same figures without rollups (status from the last hour of raw rows "
             f"in both; the balance and daily series from raw rows instead of the hourly/daily tables).")
    record("operations", "Operations: queries through rollups versus raw rows, alarm pass", body,
           {"substations": args.substations, "days": args.days, "raw_rows": raw_rows, "queries": queries,
            "alarm_pass_s": round(alarm_pass_s, 3)})


if __name__ == "__main__":
    main()
