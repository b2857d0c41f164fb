"""``regie-chaleur demo``: a living Ivry-like network on the embedded database (or the configured one).

What it does, in order, with a progress line per step:

1. prepares the database (migrations; ``--reset`` drops everything first);
2. builds the network once (:mod:`regie_chaleur.demo.network`): registry, plants, subscribers,
   contracts and SEPA mandates, the régie, tariffs, indices, VAT periods, one account per role;
3. writes the history up to now (13 months the first time, only what is missing afterwards) with the
   simulator's physics (:mod:`regie_chaleur.demo.history`, hourly, every 10 minutes for the last two days),
   then the rollups;
4. issues the load forecast (from the simulated weather) and the production plan, and the bill runs of
   the last twelve months through a régie's year (:mod:`regie_chaleur.demo.year`), their documents
   generated in the background; last month's titres handed to the public accountant and its answer
   (:mod:`regie_chaleur.demo.receivables`); the field operations once: on-call rota, visits, an open
   order, an announced outage, a verified repair (:mod:`regie_chaleur.demo.field`);
5. goes live: the substations are served as Modbus TCP devices (a few faulty on purpose), the collector
   polls them every minute, the maintenance jobs refresh rollups, alarms, forecast and plan; the web
   application is served until Ctrl-C, which stops everything.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from regie_chaleur.db.database import connect, open_database, resolve_url
from regie_chaleur.demo.field import set_up_field
from regie_chaleur.demo.live import FAULTS, background, live, maintenance
from regie_chaleur.demo.network import MODBUS_BASE_PORT, substations
from regie_chaleur.demo.receivables import hand_over_runs, put_one_subscriber_on_instalments
from regie_chaleur.demo.setup import (
    ACCOUNTS,
    PARIS,
    PASSWORD,
    Progress,
    SimulatedWeather,
    build_network,
    forecast_and_plan,
    generate_documents,
    past_forecasts,
    refresh_rollups,
    write_missing_history,
)
from regie_chaleur.demo.year import bill_the_year
from regie_chaleur.server import serve_app
from regie_chaleur.settings import Settings


def reset_database(settings: Settings) -> None:
    """Drop every object of the application's schema (demo only)."""
    url, embedded = resolve_url(settings)
    try:
        with connect(url) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
    finally:
        if embedded is not None:
            embedded.stop()


def run_demo(settings: Settings, *, host: str | None, port: int | None, reset: bool, substation_count: int = 250,
             modbus_port: int = MODBUS_BASE_PORT) -> int:
    """Build (or reuse) the demonstration network, bring it up to now, and serve it until Ctrl-C."""
    progress = Progress()
    if reset:
        progress.step("resetting the database")
        reset_database(settings)
    progress.step("preparing the database...")
    db = open_database(settings, apply_migrations=True)
    where = f"embedded server in {db.embedded.pgdata}" if db.embedded else "configured database"
    progress.step(f"database ready ({where}, mode {db.caps.mode}, {len(db.applied)} migration(s) applied)")
    try:
        subs = substations(substation_count, modbus_port or 1)  # 0: placeholders until the system's choice
        now = datetime.now(UTC)
        today = now.astimezone(PARIS).date()
        with db.pool.connection() as conn:
            built = build_network(conn, subs, today)
            progress.step(("network built" if built else "network found") +
                          f": {len(subs)} substations on 2 networks, 5 plants and the storage tank")
            counters, written_from = write_missing_history(conn, subs, now, progress)
        end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        refresh_rollups(db, written_from - timedelta(hours=3), end, progress)
        weather = SimulatedWeather()
        forecast_and_plan(db, now, weather, progress)
        run_ids = bill_the_year(db, today, progress)
        hand_over_runs(db, today, progress)
        put_one_subscriber_on_instalments(db, today, progress)
        set_up_field(db, subs, now, progress)
        h, p = host or settings.http_host, settings.http_port if port is None else port
        with live(db, settings, subs, counters, system_ports=modbus_port == 0) as ports, \
                background(lambda stop: maintenance(db, settings, weather, stop), "maintenance"), \
                background(lambda stop: past_forecasts(db, now, weather, stop), "past forecasts"), \
                background(lambda stop: generate_documents(db, run_ids, progress, stop), "documents"):
            progress.step(f"live: {len(subs)} substations served as Modbus TCP devices on 127.0.0.1:"
                          f"{min(ports)}-{max(ports)} and polled by the collector; faults on {', '.join(FAULTS)}")

            def announce(bound_host: str, bound_port: int) -> None:
                print(accounts_text(bound_host, bound_port), flush=True)

            # close_on_shutdown=False: the live parts still write while stopping
            serve_app(db, h, p, close_on_shutdown=False, request_threads=settings.http_threads, announce=announce,
                      max_body_bytes=settings.max_body_bytes, trusted_proxies=settings.trusted_proxies)
    finally:
        db.close()
    progress.step("stopped")
    return 0


def accounts_text(host: str, port: int) -> str:
    shown = "localhost" if host in ("0.0.0.0", "127.0.0.1") else host  # noqa: S104
    lines = ["", f"  regie-chaleur demo: http://{shown}:{port}/", "", "  Demo accounts (password: "
             f"{PASSWORD}):"]
    labels = {"admin": "administration", "operator": "conduite du réseau", "billing": "facturation",
              "subscriber": "espace abonné (OPH d'Ivry)"}
    lines += [f"    {login:<13} {labels[role]}" for login, _, role, _ in ACCOUNTS]
    return "\n".join([*lines, "", "  Ctrl-C stops everything.", ""])
