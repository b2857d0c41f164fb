"""Bringing the demonstration up to now: the network once, the missing history and its rollups, the
forecast and plan, and the documents of the year's bill runs (the runs: :mod:`regie_chaleur.demo.year`)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import psycopg

from regie_chaleur.db.database import Database
from regie_chaleur.demo.history import Counters, time_grid, write_history
from regie_chaleur.demo.network import (
    DemoSubstation,
    inventory_yaml,
    production_specs,
    production_substation,
    subscriber_records,
)
from regie_chaleur.errors import RegieError
from telemetry.simulator.fleet import SimulatedSubstationSpec
from telemetry.simulator.physics import Substation, make_substation, outdoor_temperature

log = logging.getLogger(__name__)
PARIS = ZoneInfo("Europe/Paris")
ACTOR = "démonstration"
PASSWORD = "chaleur-ivry-demo"  # noqa: S105  (the demonstration accounts, printed at start)
ACCOUNTS = [  # login, name, role, subscriber
    ("admin", "Administratrice de la régie", "admin", None),
    ("exploitation", "Opératrice de conduite", "operator", None),
    ("facturation", "Agent de facturation", "billing", None),
    ("abonne", "Gestionnaire OPH d'Ivry", "subscriber", "OPH-IVRY"),
]
FINE = timedelta(minutes=10)  # the collector's resolution, for the last days
FINE_DAYS = 2
FIRST_MAINTENANCE_S = 75.0  # [s] the collector's first round (devices poll every 60 s at most)



class Progress:
    """One line per step with the time since the start [s]."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def step(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f} s] {text}", flush=True)


@dataclass
class SimulatedWeather:
    """Weather forecasts for the demonstration: the simulator's own outdoor temperature plus an error
    growing with the lead time (deterministic), so the forecast meets the weather the substations see."""

    name: str = "météo simulée (démonstration)"
    error_k: float = 1.5  # [K]

    def fetch(self, start: datetime, end: datetime) -> pd.Series:
        index = pd.date_range(start, end, freq="h", inclusive="left", tz="UTC")
        lead_h = np.arange(len(index))
        error = self.error_k * np.sqrt(np.minimum(lead_h, 168) / 72.0) * np.sin(lead_h / 17.0 + start.day)
        values = [outdoor_temperature(t.to_pydatetime()) for t in index]
        return pd.Series(np.asarray(values) + error, index=index, name="temperature")


def fleet(subs: list[DemoSubstation]) -> tuple[list[SimulatedSubstationSpec], list[Substation]]:
    """Everything the simulator serves: the substations and the networks' production meters, with what
    each one simulates (a fresh state: registers as the simulator starts them)."""
    production = production_specs(subs)
    specs = [s.spec for s in subs] + production
    simulated = [make_substation(s.spec.code, s.spec.seed) for s in subs] + \
        [production_substation(subs, p) for p in production]
    return specs, simulated


def build_network(conn: psycopg.Connection, subs: list[DemoSubstation], today: date) -> bool:
    """Registry, billing set-up and accounts, once; returns whether it built them now."""
    from billing.records import save_contract, save_mandate, save_subscriber
    from regie_chaleur.demo.billing import load_demo_billing
    from regie_chaleur.registry.store import import_inventory_text
    from regie_chaleur.web.security import create_user

    if conn.execute("SELECT 1 FROM substations WHERE code = %s", (subs[0].spec.code,)).fetchone():
        load_demo_billing(conn, today, actor=ACTOR)  # new index values published since the last run
        conn.execute("UPDATE devices d SET port = p.port FROM unnest(%s::text[], %s::int[]) AS p(code, port) "
                     "WHERE d.code = p.code AND d.port <> p.port",  # another --modbus-port this time
                     ([dev.code for spec in fleet(subs)[0] for dev in spec.devices],
                      [spec.port for spec in fleet(subs)[0] for _ in spec.devices]))
        return False
    import_inventory_text(conn, inventory_yaml(subs), "réseau de démonstration")
    load_demo_billing(conn, today, actor=ACTOR)
    subscribers, mandates, contracts = subscriber_records(subs)
    for record in subscribers:
        save_subscriber(conn, record, actor=ACTOR)
    for record in mandates:
        save_mandate(conn, record, actor=ACTOR)
    for record in contracts:
        save_contract(conn, record, actor=ACTOR)
    for login, name, role, subscriber in ACCOUNTS:
        create_user(conn, login, name, role, PASSWORD, subscriber)
    return True


def history_start(today: date) -> datetime:
    """The first instant of the history: the first day of the month 13 months back (Europe/Paris)."""
    month = (today.year * 12 + today.month - 1) - 13
    return datetime(month // 12, month % 12 + 1, 1, tzinfo=PARIS).astimezone(UTC)


def stored_counters(conn: psycopg.Connection, specs: list[SimulatedSubstationSpec], ids: dict[str, int],
                    ) -> Counters | None:
    """The meters' registers at the last stored row (None when there is no history yet)."""
    meters = [ids[spec.devices[0].code] for spec in specs]
    rows = {r[0]: r[1:] for r in conn.execute(
        """SELECT DISTINCT ON (device_id) device_id, time, energy, volume, power, flow FROM substation_samples
           WHERE device_id = ANY(%s) AND energy_q = 0 ORDER BY device_id, time DESC""", (meters,))}
    if len(rows) < len(meters):
        return None
    # every device's history goes on after the latest row of any (a silent device keeps its gap)
    latest = max(r[0] for r in rows.values())
    at = latest.replace(second=0, microsecond=0) - timedelta(minutes=latest.minute % 10)
    return Counters(at, np.array([rows[m][1] for m in meters], dtype=float),
                    np.array([rows[m][2] for m in meters], dtype=float),
                    np.array([rows[m][3] for m in meters], dtype=float),
                    np.array([rows[m][4] for m in meters], dtype=float))


def write_missing_history(conn: psycopg.Connection, subs: list[DemoSubstation], now: datetime,
                          progress: Progress) -> tuple[Counters | None, datetime]:
    """Write the history from the last stored row (or 13 months back) up to ``now``; returns the
    counters at the end and where the writing started."""
    ids: dict[str, int] = dict(conn.execute("SELECT code, id FROM devices").fetchall())
    specs, simulated = fleet(subs)
    counters = stored_counters(conn, specs, ids)
    start = history_start(now.astimezone(PARIS).date()) if counters is None else counters.at + FINE
    end = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 10)
    fine_from = max(start, end - timedelta(days=FINE_DAYS))
    fine_from -= timedelta(minutes=fine_from.minute % 10, seconds=fine_from.second)
    times = (time_grid(start, fine_from, timedelta(hours=1)) if start < fine_from else []) + \
        time_grid(max(start, fine_from), end + FINE, FINE)
    times = [t for t in times if t <= end]
    if not times:
        return counters, end
    progress.step(f"history: {len(subs)} substations and {len(specs) - len(subs)} production meters from "
                  f"{times[0]:%Y-%m-%d %H:%M} UTC to {end:%Y-%m-%d %H:%M} UTC ({len(times) * len(specs):,} rows)")
    written, last_print = 0, time.monotonic()
    for rows, after in write_history(conn, specs, ids, times, counters, substations=simulated):
        written, counters = written + rows, after
        if time.monotonic() - last_print > 5:
            progress.step(f"  {written:,} rows written")
            last_print = time.monotonic()
    progress.step(f"history written: {written:,} rows")
    return counters, times[0]


def refresh_rollups(db: Database, start: datetime, end: datetime, progress: Progress) -> None:
    """The operations rollups over [start, end), month by month on two connections."""
    from concurrent.futures import ThreadPoolExecutor

    from regie_chaleur.operations.rollups import refresh_operations

    # windows of whole Europe/Paris days: two windows never share a day of the daily rollup
    day = start.astimezone(PARIS).date()
    windows: list[tuple[datetime, datetime]] = []
    while True:
        lo = datetime(day.year, day.month, day.day, tzinfo=PARIS).astimezone(UTC)
        if lo >= end:
            break
        day += timedelta(days=30)
        windows.append((lo, min(end, datetime(day.year, day.month, day.day, tzinfo=PARIS).astimezone(UTC))))

    def one(window: tuple[datetime, datetime]) -> None:
        with db.pool.connection() as conn:
            refresh_operations(conn, *window)

    done = 0
    pool = ThreadPoolExecutor(2)
    try:
        for _ in pool.map(one, windows):
            done += 1
            if done % 3 == 0 or done == len(windows):
                progress.step(f"  rollups: {done}/{len(windows)} months")
    finally:  # Ctrl-C: the months not started are dropped, not waited for
        pool.shutdown(wait=True, cancel_futures=True)


def issue_forecast(db: Database, at: datetime, weather: SimulatedWeather) -> bool:
    """The network forecast issued at ``at`` (unless it exists); whether it was issued."""
    from regie_chaleur.services.forecast import run_network_forecast

    at = at.replace(minute=0, second=0, microsecond=0)
    with db.pool.connection() as conn:
        if conn.execute("SELECT 1 FROM load_forecasts WHERE scope = 'network' AND issued_at = %s", (at,)).fetchone():
            return False
        run_network_forecast(conn, weather, at)
    return True


def forecast_and_plan(db: Database, now: datetime, weather: SimulatedWeather, progress: Progress) -> None:
    """Today's forecast and the production plan from it."""
    from regie_chaleur.services.planning import plan_latest, read_system_doc

    issue_forecast(db, now, weather)
    with db.pool.connection() as conn:
        plan = plan_latest(conn, read_system_doc(None))
    progress.step(f"load forecast issued; production plan {'n° ' + str(plan.id) if plan.id else 'up to date'}"
                  f"{' (' + plan.status + ')' if plan.status else ''}")


def past_forecasts(db: Database, now: datetime, weather: SimulatedWeather, stop: threading.Event) -> None:
    """The forecasts of the last 7 days, issued at 05:00 UTC each day (the forecast page then shows how
    accurate they were); in the background."""
    for days_back in range(7, 0, -1):
        if stop.is_set():
            return
        try:
            issue_forecast(db, (now - timedelta(days=days_back)).replace(hour=5), weather)
        except (RegieError, psycopg.Error) as exc:
            log.warning("past forecast not issued: %s", exc)


def generate_documents(db: Database, run_ids: list[int], progress: Progress,
                       stop: threading.Event | None = None) -> None:
    """The documents of the runs (newest first) and of the credit notes and final invoices among them;
    ``stop`` set (Ctrl-C) ends it within a chunk of documents (a second or two)."""
    from regie_chaleur.services.documents import generate_for, generate_run_documents

    try:
        count = 0
        with db.pool.connection() as conn:
            for run_id in run_ids:
                count += generate_run_documents(conn, run_id, workers=1, stop=stop)
            others = [r[0] for r in conn.execute(
                "SELECT number FROM invoices i WHERE status = 'issued' AND NOT EXISTS (SELECT 1 "
                "FROM invoice_documents d "
                "WHERE d.invoice_id = i.id)")]
            count += generate_for(conn, others, stop=stop)
        if stop is not None and stop.is_set():
            return
        progress.step(f"documents of the year's bill runs: {count} PDF/Factur-X generated")
    except Exception:  # a background job: log it, the demo goes on
        log.exception("documents of runs %s not generated", run_ids)
