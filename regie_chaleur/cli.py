"""The ``regie-chaleur`` command line."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from regie_chaleur.errors import RegieError
from regie_chaleur.settings import Settings, load_settings

if TYPE_CHECKING:
    from regie_chaleur.db.database import Database

log = logging.getLogger("regie_chaleur")
Handler = Callable[[argparse.Namespace, Settings], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config:
        os.environ["REGIE_CONFIG_FILE"] = str(args.config)
    try:
        overrides = {"mode": "demo"} if args.command == "demo" else {}
        settings = load_settings(**overrides)
        logging.basicConfig(level=settings.log_level.upper(),
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        handler: Handler = args.handler
        return handler(args, settings)
    except RegieError as exc:
        print(f"regie-chaleur: error: {exc}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="regie-chaleur", description="District heating network management.")
    parser.add_argument("--config", type=Path, help="TOML settings file (same as REGIE_CONFIG_FILE)")
    sub = parser.add_subparsers(dest="command", required=True)

    config = sub.add_parser("config", help="settings").add_subparsers(dest="action", required=True)
    config.add_parser("show", help="print the effective settings, secrets masked").set_defaults(handler=cmd_config_show)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="action", required=True)
    db.add_parser("migrate", help="apply pending migrations").set_defaults(handler=cmd_db_migrate)
    db.add_parser("status", help="list migrations and the TimescaleDB mode").set_defaults(handler=cmd_db_status)
    retention = db.add_parser("retention", help="keep a time-series table's raw rows this many days")
    retention.add_argument("table", choices=("substation_samples", "device_samples"))
    retention.add_argument("days", type=int)
    retention.set_defaults(handler=cmd_db_retention)

    network = sub.add_parser("network", help="network registry").add_subparsers(dest="action", required=True)
    imp = network.add_parser("import", help="import an inventory (YAML or CSV); all-or-nothing")
    imp.add_argument("file", type=Path)
    imp.set_defaults(handler=cmd_network_import)
    exp = network.add_parser("export", help="export the inventory")
    exp.add_argument("--format", choices=("yaml", "csv"), default="yaml")
    exp.add_argument("--output", "-o", type=Path, help="file to write (default: standard output)")
    exp.set_defaults(handler=cmd_network_export)

    serve = sub.add_parser("serve", help="serve the API and web application")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(handler=cmd_serve)

    collect = sub.add_parser("collect", help="poll the registry's devices into the database")
    collect.add_argument("--shard", default="0/1", help="this collector's share of the fleet, i/n")
    collect.set_defaults(handler=cmd_collect)

    simulate = sub.add_parser("simulate", help="serve simulated substations over Modbus TCP")
    simulate.add_argument("--substations", type=int, default=10, help="how many substations")
    simulate.add_argument("--port", type=int, default=5020, help="TCP port of every substation")
    simulate.add_argument("--base-address", default="127.1.0.0", help="substation i listens on base + i + 1")
    simulate.add_argument("--shared-host", help="all substations on this host, at port + i (containers)")
    simulate.add_argument("--advertise-host", help="host name written in --write-inventory (with --shared-host)")
    simulate.add_argument("--latency-ms", type=float, default=0.0, help="added response latency [ms]")
    simulate.add_argument("--write-inventory", type=Path, help="write the fleet's inventory (YAML) and exit")
    simulate.add_argument("--ready-file", type=Path, help="file written once every server listens")
    simulate.set_defaults(handler=cmd_simulate)

    forecast = sub.add_parser("forecast", help="heat-load forecasting").add_subparsers(dest="action", required=True)
    bt = forecast.add_parser("backtest", help="day-ahead backtest of a history file (the evaluation protocol)")
    bt.add_argument("history", type=Path, help="CSV: timestamp,heat_load_mw,outdoor_temperature_c")
    bt.add_argument("--test-start", type=date.fromisoformat, required=True, help="YYYY-MM-DD")
    bt.add_argument("--test-end", type=date.fromisoformat, required=True, help="YYYY-MM-DD, exclusive")
    bt.add_argument("--out", type=Path, required=True, help="forecasts CSV to write")
    bt.add_argument("--temperature-noise", type=float, default=0.0, help="forecast-like temperature error [K]")
    bt.add_argument("--holidays", default="FR", help="public holidays: FR, DE or none")
    bt.add_argument("--tz", help="calendar time zone (default: the timestamps' own offset)")
    bt.add_argument("--refit-days", type=int, default=7, help="refit the model every N issue days")
    bt.set_defaults(handler=cmd_forecast_backtest)
    run = forecast.add_parser("run", help="issue the network forecast for the next 7 days and store it")
    run.add_argument("--weather-file", type=Path, help="forecast temperatures CSV (time,temperature_c)")
    run.set_defaults(handler=cmd_forecast_run)
    acc = forecast.add_parser("accuracy", help="rolling accuracy of the stored forecasts per horizon")
    acc.add_argument("--days", type=int, default=30)
    acc.set_defaults(handler=cmd_forecast_accuracy)

    plan = sub.add_parser("plan", help="plan production for the next 7 days from the latest forecast")
    plan.add_argument("--plants", type=Path, help="plants YAML (default: the Ivry demonstration system)")
    plan.add_argument("--force", action="store_true", help="re-plan even if the latest forecast has a plan")
    plan.add_argument("--losses", type=float, default=0.10, help="network losses added to the forecast (share)")
    plan.add_argument("--versus-actual", type=int, metavar="PLAN_ID",
                      help="compare a stored plan with the metered production so far, instead of planning")
    plan.set_defaults(handler=cmd_plan)

    weather = sub.add_parser("weather", help="outdoor temperature data").add_subparsers(dest="action", required=True)
    wimp = weather.add_parser("import", help="import observed hourly temperatures (time,temperature_c)")
    wimp.add_argument("file", type=Path)
    wimp.add_argument("--source", default="file")
    wimp.set_defaults(handler=cmd_weather_import)

    sched = sub.add_parser("scheduler", help="run the periodic jobs (rollups, retention)")
    sched.add_argument("--every", type=float, default=300.0, help="seconds between passes")
    sched.add_argument("--once", action="store_true", help="one pass, then exit")
    sched.set_defaults(handler=cmd_scheduler)

    demo = sub.add_parser("demo", help="run the demonstration (embedded database when none is configured)")
    demo.add_argument("--host")
    demo.add_argument("--port", type=int)
    demo.add_argument("--reset", action="store_true", help="start again from an empty database")
    demo.set_defaults(handler=cmd_demo)
    return parser


def cmd_config_show(args: argparse.Namespace, settings: Settings) -> int:
    print(json.dumps(settings.masked(), indent=2, ensure_ascii=False))
    return 0


def cmd_db_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.db.capabilities import detect_capabilities
    from regie_chaleur.db.database import connect, resolve_url
    from regie_chaleur.db.migrate import migrate

    url, embedded = resolve_url(settings)
    try:
        with connect(url) as conn:
            caps = detect_capabilities(conn, settings.timescaledb)
            applied = migrate(conn, caps)
        print(f"TimescaleDB mode: {caps.mode}")
        print(f"applied {len(applied)} migration(s): " + (", ".join(applied) if applied else "schema is current"))
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


def cmd_db_status(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.db.capabilities import detect_capabilities
    from regie_chaleur.db.database import connect, resolve_url
    from regie_chaleur.db.migrate import status

    url, embedded = resolve_url(settings)
    try:
        with connect(url) as conn:
            caps = detect_capabilities(conn, settings.timescaledb)
            states = status(conn)
        print(f"PostgreSQL {caps.server_version}; TimescaleDB mode: {caps.mode}"
              + (f" ({caps.timescaledb_version})" if caps.timescaledb_version else ""))
        for s in states:
            when = s.applied_at.isoformat(timespec="seconds") if s.applied_at else "pending"
            flag = "  (source changed since applied)" if s.changed else ""
            print(f"  {s.id:<28} {when:<26} {s.description}{flag}")
        pending = sum(1 for s in states if s.applied_at is None)
        print(f"{pending} pending")
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


def cmd_db_retention(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.db.database import connected
    from regie_chaleur.db.timescale import set_retention

    if args.days < 1:
        raise RegieError("retention: days must be at least 1")
    with connected(settings) as (db, conn), conn.transaction(), conn.cursor() as cur:
        kind = set_retention(cur, db.caps, args.table, f"{args.days} days")
    how = "TimescaleDB policy" if kind == "policy" else "scheduler job"
    print(f"{args.table}: raw rows kept {args.days} days ({how})")
    return 0


def cmd_network_import(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.db.database import connected
    from regie_chaleur.registry.store import import_inventory_text

    path: Path = args.file
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RegieError(f"cannot read {path}: {exc.strerror}") from exc
    with connected(settings) as (_db, conn):
        report = import_inventory_text(conn, text, str(path), profiles=_known_profiles(settings))
    print(f"{path}: {report}")
    return 0


def cmd_network_export(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.db.database import connected
    from regie_chaleur.registry.inventory import format_csv, format_yaml
    from regie_chaleur.registry.store import read_inventory

    with connected(settings) as (_db, conn):
        inventory = read_inventory(conn)
    text = format_csv(inventory) if args.format == "csv" else format_yaml(inventory)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _known_profiles(settings: Settings) -> set[str]:
    """Device profile names (shipped, plus REGIE_PROFILES_DIR)."""
    from regie_chaleur.telemetry_service import profiles_for

    return set(profiles_for(settings))


def cmd_forecast_backtest(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.forecasting import run_backtest

    if args.test_end <= args.test_start:
        raise RegieError("--test-end must be after --test-start")
    country = None if args.holidays.lower() == "none" else args.holidays.upper()
    if country not in (None, "FR", "DE"):
        raise RegieError("--holidays: FR, DE or none")
    result = run_backtest(args.history, args.test_start, args.test_end, args.out, args.temperature_noise,
                          country, args.tz, args.refit_days)
    labels = {"mape": "MAPE", "cvrmse": "CV(RMSE)", "nmae": "nMAE", "mape_heating": "MAPE October-April",
              "mape_daily": "daily-energy MAPE", "coverage_p10_p90": "P10-P90 coverage"}
    for key, label in labels.items():
        print(f"{label:<22} {result[key]:6.2f} %")
    print(f"forecasts written to {args.out}")
    return 0


def cmd_forecast_run(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.db.database import connected
    from regie_chaleur.forecast_service import run_network_forecast
    from regie_chaleur.weather import FileProvider

    provider = (FileProvider(args.weather_file, error_k=settings.weather_forecast_error_k) if args.weather_file
                else settings.weather_provider())
    if provider is None:
        raise RegieError("no weather forecast: give --weather-file or set REGIE_WEATHER_FORECAST_URL "
                         "or REGIE_WEATHER_FORECAST_FILE")
    with connected(settings) as (_db, conn):
        issued = run_network_forecast(conn, provider)
    print(f"forecast {issued.id} issued at {issued.issued_at.isoformat()} for {issued.hours} h "
          f"(weather: {provider.name})")
    return 0


def cmd_forecast_accuracy(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from regie_chaleur.db.database import connected
    from regie_chaleur.forecast_service import forecast_accuracy

    with connected(settings) as (_db, conn):
        rows = forecast_accuracy(conn, datetime.now(UTC), args.days)
    if not rows:
        print("no forecast with observed targets yet")
    for r in rows:
        print(f"horizon {r['horizon_from_h']:>3}-{r['horizon_to_h']:<3} h  MAPE {r['mape']:6.2f} %  "
              f"P10-P90 coverage {r['coverage_p10_p90']:5.1f} %  ({r['n']} hours)")
    return 0


def cmd_weather_import(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.db.database import connected
    from regie_chaleur.weather import WeatherError, import_observations, parse_temperature_csv

    try:
        series = parse_temperature_csv(args.file.read_text(encoding="utf-8"), str(args.file))
    except OSError as exc:
        raise WeatherError(f"cannot read {args.file}: {exc.strerror}") from exc
    with connected(settings) as (_db, conn):
        n = import_observations(conn, series, args.source)
    print(f"{args.file}: {n} hourly temperatures imported (source {args.source})")
    return 0


def cmd_plan(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.db.database import connected
    from regie_chaleur.planning_service import plan_latest, read_system_doc

    with connected(settings) as (_db, conn):
        if args.versus_actual is not None:
            from datetime import UTC, datetime

            from regie_chaleur.planning_service import plan_versus_actual

            rows = plan_versus_actual(conn, args.versus_actual, datetime.now(UTC))
            if not rows:
                print(f"plan {args.versus_actual}: unknown, or none of its hours has passed yet")
            for row in rows:
                actual = "no meter data" if row["actual_mwh"] is None else f"{row['actual_mwh']:10.1f} MWh"
                print(f"{row['plant']:<20} planned {row['planned_mwh']:10.1f} MWh   metered {actual}")
            return 0
        stored = plan_latest(conn, read_system_doc(args.plants), args.losses, args.force)
    if stored.id is None:
        print(f"forecast {stored.forecast_id} is already planned (use --force to plan again)")
    else:
        print(f"plan {stored.id} from forecast {stored.forecast_id}: {stored.status}, cost {stored.cost_eur:,.0f} €")
    return 0


def cmd_collect(args: argparse.Namespace, settings: Settings) -> int:
    settings.check_secrets()
    from regie_chaleur.db.database import open_database
    from regie_chaleur.telemetry_service import Shard, run_collector

    shard = Shard.parse(args.shard)
    db = open_database(settings)  # migrates in demo/development; keeps an embedded server alive
    try:
        return run_collector(settings, db.url, shard)
    finally:
        db.close()


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.telemetry_service import fleet_inventory, profiles_for, run_simulator
    from telemetry.simulator.fleet import fleet_specs

    specs = fleet_specs(args.substations, args.port, args.base_address, shared_host=args.shared_host)
    if args.write_inventory:
        if args.advertise_host:
            specs = [dataclasses.replace(s, host=args.advertise_host) for s in specs]
        args.write_inventory.write_text(fleet_inventory(specs), encoding="utf-8")
        print(f"wrote the inventory of {len(specs)} simulated substations to {args.write_inventory}")
        return 0
    return run_simulator(specs, profiles_for(settings), args.latency_ms / 1000.0, args.ready_file)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    settings.check_secrets()
    from regie_chaleur.db.database import open_database

    db = open_database(settings)
    _serve(db, args.host or settings.http_host, args.port or settings.http_port)
    return 0


def cmd_scheduler(args: argparse.Namespace, settings: Settings) -> int:
    settings.check_secrets()
    from regie_chaleur.db.database import open_database
    from regie_chaleur.maintenance import run_maintenance_loop, run_maintenance_once

    db = open_database(settings)
    try:
        if args.once:
            print(json.dumps(run_maintenance_once(db.pool, notify=settings.notifier()), default=str))
            return 0
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        run_maintenance_loop(db.pool, stop, args.every, settings.notifier(), settings.weather_provider(),
                             settings.forecast_every_h)
    finally:
        db.close()
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.demo import run_demo

    return run_demo(settings, host=args.host, port=args.port, reset=args.reset)


def _serve(db: Database, host: str, port: int) -> None:
    import uvicorn

    from regie_chaleur.api.app import create_app

    app = create_app(db, on_shutdown=db.close)
    print(f"regie-chaleur: serving on http://{host}:{port}/ (API docs: http://{host}:{port}/api/docs)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="info")


if __name__ == "__main__":
    sys.exit(main())
