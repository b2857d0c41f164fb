"""bench/web: latency and throughput of the pages people wait for, on a year of network data.

Setup (not timed): the operations benchmark's year of 10-minute data for 1,000 substations (the same
simulator physics and merged rows as ``bench/operations``, generated in bulk by ``regie_chaleur.demo.history``
and written with the telemetry writer's binary COPY) and its rollups; a subscriber with a contract on
one delivery point; the network's published figures; an operator and the subscriber signed in (their session cookies).
Measured: ``regie-chaleur serve`` in its own process, loaded by ``wrk`` (a separate C load generator,
Debian's package) over loopback at 20 and 100 concurrent connections, 20 s each:
- the network overview page (``/exploitation``: live status of every substation, yesterday's losses);
- a substation's year of chart data (``/exploitation/donnees/sous-station/...``, daily resolution);
- a subscriber's consumption page (``/espace``: their delivery point, 13 monthly meter indexes read from
  telemetry, the network's mix and CO2) and its 13-month chart data (``/espace/donnees/mensuel``);
- a social landlord's portfolio: 67 sites billed every month of the last year through the real bill runs
  (tariffs, indexation, readings from telemetry; 804 invoices), its overview of all sites
  (``/espace/sites``: each site's two years, weather-corrected, ranked) and its invoice list
  (``/espace/factures``: the 24 newest with their site, rest to pay and payment reference).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import ensure_debian_package, record, scratch_database, table
from regie_chaleur.demo.history import time_grid, write_history
from regie_chaleur.operations.rollups import refresh_operations
from regie_chaleur.services.telemetry import fleet_inventory
from telemetry.simulator.fleet import fleet_specs

CLI = [sys.executable, "-m", "regie_chaleur.cli"]
DURATION_S = 20
WARM_UP_S = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(url: str, env: dict[str, str], tmp: str, substations: int, days: int) -> tuple[datetime, datetime, float]:
    subprocess.run([*CLI, "db", "migrate"], env=env, check=True, capture_output=True)
    inventory = Path(tmp) / "fleet.yaml"
    inventory.write_text(fleet_inventory(fleet_specs(substations, with_controllers=False)))
    subprocess.run([*CLI, "network", "import", str(inventory)], env=env, check=True, capture_output=True)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    end -= timedelta(minutes=end.minute % 10)
    start = end - timedelta(days=days)
    started = time.perf_counter()
    specs = fleet_specs(substations, with_controllers=False)
    times = time_grid(start, end, timedelta(minutes=10))

    def part(i: int) -> int:  # the simulator's physics in numpy, the writer's binary COPY (two connections)
        with psycopg.connect(url, autocommit=True) as conn:
            ids = dict(conn.execute("SELECT code, id FROM devices").fetchall())
            return sum(rows for rows, _ in write_history(conn, specs[i::2], ids, times, steps_per_chunk=144))

    with ThreadPoolExecutor(2) as threads:
        rows = sum(threads.map(part, range(2)))
    print(f"  {rows:,} rows in {time.perf_counter() - started:.0f} s", flush=True)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE substation_samples")
        month = start
        while month < end:
            refresh_operations(conn, month, min(end, month + timedelta(days=31)))
            month += timedelta(days=31)
        conn.execute("VACUUM ANALYZE")
    return start, end, rows


def accounts(url: str) -> dict[str, str]:
    """A subscriber on PDL-SIM-00001, the network's figures, an operator and the subscriber signed in."""
    from billing.records import save_contract, save_subscriber
    from billing.regie import save_disclosure
    from regie_chaleur.web.security import create_user, open_session

    cookies = {}
    with psycopg.connect(url, autocommit=True) as conn:
        save_subscriber(conn, {"code": "OPH-IVRY", "name": "OPH d'Ivry-sur-Seine", "address_line1": "1 rue Marat",
                               "postcode": "94200", "city": "Ivry-sur-Seine"}, actor="bench")
        save_contract(conn, {"number": "POL-BENCH", "subscriber": "OPH-IVRY", "delivery_point": "PDL-SIM-00001",
                             "category": "logement_social", "start_date": "2024-01-01", "power_kw": "400"},
                      actor="bench")
        save_disclosure(conn, "sim", datetime.now(UTC).year, Decimal("61"), {"Récupération": Decimal("71"),
                                                                              "Géothermie": Decimal("7"),
                                                                              "Gaz naturel": Decimal("22")},
                        Decimal("78"), "démonstration", actor="bench")
        for login, role, sub in (("operatrice", "operator", None), ("abonne", "subscriber", "OPH-IVRY")):
            user = create_user(conn, login, login, role, "mot de passe de banc d'essai", sub)
            token, _ = open_session(conn, user, "127.0.0.1", "wrk")
            cookies[role] = token
    return cookies


LANDLORD_SITES = 67


def landlord(url: str, start: datetime, end: datetime) -> tuple[str, int]:
    """A social landlord with 67 sites (PDL-SIM-00002 onwards) billed every whole month the data covers
    (eleven for a year of data) by the real bill runs on the demonstration's tariffs; returns its session
    cookie and how many invoices."""
    from billing.issuing import issue_run
    from billing.periods import add_months
    from billing.records import save_contract, save_subscriber
    from billing.regie import save_vat_period
    from billing.runs import simulate_run
    from regie_chaleur.demo.billing import load_demo_billing
    from regie_chaleur.services.billing import refresh_boundary_readings
    from regie_chaleur.web.security import create_user, open_session

    today = end.date()
    first = add_months(start.date().replace(day=1), 1)
    with psycopg.connect(url, autocommit=True) as conn:
        load_demo_billing(conn, today, actor="bench")
        save_vat_period(conn, "sim", date(2024, 1, 1), None, Decimal("78"), "banc d'essai", actor="bench")
        save_subscriber(conn, {"code": "BAILLEUR", "name": "Bailleur social du Val-de-Marne",
                               "address_line1": "2 place de la République", "postcode": "94200",
                               "city": "Ivry-sur-Seine"}, actor="bench")
        for i in range(LANDLORD_SITES):
            save_contract(conn, {"number": f"POL-B{i:03d}", "subscriber": "BAILLEUR",
                                 "delivery_point": f"PDL-SIM-{i + 2:05d}", "category": "logement_social",
                                 "start_date": first.isoformat(), "power_kw": "300"}, actor="bench")
        month = first
        while month < today.replace(day=1):
            refresh_boundary_readings(conn, month)
            run = simulate_run(conn, month, actor="bench", run_date=add_months(month, 1) + timedelta(days=2))
            issue_run(conn, run.run_id, actor="bench")
            month = add_months(month, 1)
        invoices = conn.execute("SELECT count(*) FROM invoices i JOIN subscribers s ON s.id = i.subscriber_id "
                                "WHERE s.code = 'BAILLEUR' AND i.status = 'issued'").fetchone()[0]
        user = create_user(conn, "bailleur", "bailleur", "subscriber", "mot de passe de banc d'essai", "BAILLEUR")
        token, _ = open_session(conn, user, "127.0.0.1", "wrk")
        conn.execute("VACUUM ANALYZE")
    return token, int(invoices)


def wrk(url: str, cookie: str, clients: int, duration_s: int = DURATION_S) -> dict[str, float | int]:
    out = subprocess.run(["wrk", "-t2", f"-c{clients}", f"-d{duration_s}s", "--latency", "--timeout", "10s",
                          "-H", f"Cookie: regie_session={cookie}", url], capture_output=True, text=True,
                         check=True).stdout
    latency = {q: _seconds(v) for q, v in re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M)}
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(x) for x in re.findall(r"(?:Non-2xx or 3xx responses|connect|read|write|timeout)\W+(\d+)", out))
    return {"requests": requests, "rps": round(rps, 1), "p50_ms": round(latency["50"] * 1000, 2),
            "p99_ms": round(latency["99"] * 1000, 2), "errors": errors}


def _seconds(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--substations", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (one per core)")
    args = parser.parse_args()
    if not ensure_debian_package("wrk", "wrk"):
        raise SystemExit("wrk is needed (apt-get install wrk)")
    with tempfile.TemporaryDirectory() as tmp, scratch_database("regie_bench_web") as url:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("REGIE_")}, "REGIE_MODE": "development",
               "REGIE_DATABASE_URL": url, "REGIE_DATA_DIR": tmp, "REGIE_LOG_LEVEL": "WARNING",
               "REGIE_POOL_MAX_SIZE": "10", "REGIE_SECRET_KEY": "bench-" + os.urandom(16).hex()}
        print(f"loading {args.days} days × {args.substations} substations at 10 min...", flush=True)
        start, end, rows = prepare(url, env, tmp, args.substations, args.days)
        cookies = accounts(url)
        print(f"billing a landlord's {LANDLORD_SITES} sites over a year...", flush=True)
        cookies["landlord"], invoices = landlord(url, start, end)
        print(f"  {invoices} invoices issued", flush=True)
        port = free_port()
        server = subprocess.Popen([*CLI, "serve", "--port", str(port), "--workers", str(args.workers)], env=env,
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            year = f"start={start.isoformat()}&end={end.isoformat()}".replace("+", "%2B")
            endpoints = [("network overview page", "/exploitation", "operator"),
                         ("a substation's year of chart data", f"/exploitation/donnees/sous-station/SIM-00001?{year}",
                          "operator"),
                         ("a subscriber's consumption page", "/espace", "subscriber"),
                         ("a subscriber's 13-month chart data", "/espace/donnees/mensuel", "subscriber"),
                         ("landlord portfolio overview", "/espace/sites", "landlord"),
                         ("landlord invoice list", "/espace/factures", "landlord")]
            runs = []
            for name, path, role in endpoints:
                check = httpx.get(base + path, cookies={"regie_session": cookies[role]})
                assert check.status_code == 200, (path, check.status_code, check.text[:300])
                wrk(base + path, cookies[role], 20, WARM_UP_S)  # every worker process past its first request
                for clients in (20, 100):
                    measured = wrk(base + path, cookies[role], clients)
                    runs.append({"endpoint": name, "clients": clients, **measured})
                    print("  ", runs[-1], flush=True)
        finally:
            server.terminate()
            server.wait(30)
    body = table(["endpoint", "clients", "requests", "requests/s", "p50 ms", "p99 ms", "errors"],
                 [[r["endpoint"], r["clients"], r["requests"], r["rps"], r["p50_ms"], r["p99_ms"], r["errors"]]
                  for r in runs])
    body += (f"\n\n`regie-chaleur serve --workers {args.workers}` (one request at a time per process, the default "
             f"REGIE_HTTP_THREADS=1) on {rows:,} raw rows ({args.days} days × "
             f"{args.substations} substations at 10 minutes) with their rollups; "
             f"`wrk -t2 -cN -d{DURATION_S}s --latency` over loopback after {WARM_UP_S} s unmeasured (each worker "
             "process's first requests fill its caches: a cold subscriber page reads the network's degree days "
             "once an hour) "
             "with a signed-in session cookie, on the same 2-core machine as PostgreSQL and the server. The overview "
             "is computed at most every 10 s and shared by the operators asking meanwhile (it refreshes itself every "
             f"30 s). The landlord has {LANDLORD_SITES} sites and {invoices} issued invoices (a year of real bill "
             "runs). Target: p99 under 100 ms at 20 clients.")
    record("web", "Web: latency and throughput of the main pages", body, {"runs": runs})


if __name__ == "__main__":
    main()
