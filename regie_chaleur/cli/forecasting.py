"""Forecasting and planning commands: ``forecast`` (backtest, run, accuracy), ``plan`` and ``weather``."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from regie_chaleur.cli.common import Subparsers
from regie_chaleur.errors import RegieError
from regie_chaleur.settings import Settings


def register(sub: Subparsers) -> None:
    forecast = sub.add_parser("forecast", help="heat-load forecasting").add_subparsers(dest="action", required=True)
    bt = forecast.add_parser("backtest", help="day-ahead backtest of a history file (the evaluation protocol)")
    bt.add_argument("history", type=Path, help="CSV: timestamp,heat_load_mw,outdoor_temperature_c")
    bt.add_argument("--test-start", type=date.fromisoformat, required=True, help="YYYY-MM-DD")
    bt.add_argument("--test-end", type=date.fromisoformat, required=True, help="YYYY-MM-DD, exclusive")
    bt.add_argument("--out", type=Path, required=True, help="forecasts CSV to write")
    bt.add_argument("--temperature-noise", type=float, default=0.0, help="forecast-like temperature error [K]")
    bt.add_argument("--holidays", default="FR", help="public holidays: FR, DE or none")
    bt.add_argument("--tz", help="calendar time zone (default: the timestamps' own offset)")
    bt.add_argument("--school-holidays", type=Path, help="school holiday periods CSV (start,end[,description])")
    bt.add_argument("--refit-days", type=int, default=7, help="refit the model every N issue days")
    bt.set_defaults(handler=cmd_forecast_backtest)
    run = forecast.add_parser("run", help="issue the network forecast for the next 7 days and store it")
    run.add_argument("--weather-file", type=Path, help="forecast temperatures CSV (time,temperature_c)")
    run.add_argument("--substation", metavar="CODE", help="forecast this substation's load instead of the network's")
    run.set_defaults(handler=cmd_forecast_run)
    acc = forecast.add_parser("accuracy", help="rolling accuracy of the stored forecasts per horizon")
    acc.add_argument("--days", type=int, default=30)
    acc.add_argument("--substation", metavar="CODE", help="the forecasts of this substation")
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


def cmd_forecast_backtest(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.services.backtest import run_backtest

    if args.test_end <= args.test_start:
        raise RegieError("--test-end must be after --test-start")
    country = None if args.holidays.lower() == "none" else args.holidays.upper()
    if country not in (None, "FR", "DE"):
        raise RegieError("--holidays: FR, DE or none")
    result = run_backtest(args.history, args.test_start, args.test_end, args.out, args.temperature_noise,
                          country, args.tz, args.refit_days, args.school_holidays)
    labels = {"mape": "MAPE", "cvrmse": "CV(RMSE)", "nmae": "nMAE", "mape_heating": "MAPE October-April",
              "mape_daily": "daily-energy MAPE", "coverage_p10_p90": "P10-P90 coverage"}
    for key, label in labels.items():
        print(f"{label:<22} {result[key]:6.2f} %")
    print(f"forecasts written to {args.out}")
    return 0


def cmd_forecast_run(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.db.database import connected
    from regie_chaleur.services.forecast import run_network_forecast
    from regie_chaleur.services.weather import FileProvider

    provider = (FileProvider(args.weather_file, error_k=settings.weather_forecast_error_k) if args.weather_file
                else settings.weather_provider())
    if provider is None:
        raise RegieError("no weather forecast: give --weather-file or set REGIE_WEATHER_FORECAST_URL "
                         "or REGIE_WEATHER_FORECAST_FILE")
    with connected(settings) as (_db, conn):
        issued = run_network_forecast(conn, provider, school_holidays=settings.school_holidays(),
                                      substation=args.substation)
    what = "network" if args.substation is None else args.substation
    print(f"{what} forecast {issued.id} issued at {issued.issued_at.isoformat()} for {issued.hours} h "
          f"(weather: {provider.name})")
    return 0


def cmd_forecast_accuracy(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from regie_chaleur.db.database import connected
    from regie_chaleur.services.forecast import forecast_accuracy

    with connected(settings) as (_db, conn):
        rows = forecast_accuracy(conn, datetime.now(UTC), args.days, args.substation)
    if not rows:
        print("no forecast with observed targets yet")
    for r in rows:
        print(f"horizon {r['horizon_from_h']:>3}-{r['horizon_to_h']:<3} h  MAPE {r['mape']:6.2f} %  "
              f"P10-P90 coverage {r['coverage_p10_p90']:5.1f} %  ({r['n']} hours)")
    return 0


def cmd_weather_import(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.db.database import connected
    from regie_chaleur.services.weather import WeatherError, import_observations, parse_temperature_csv

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
    from regie_chaleur.services.planning import plan_latest, read_system_doc

    with connected(settings) as (_db, conn):
        if args.versus_actual is not None:
            from datetime import UTC, datetime

            from regie_chaleur.services.planning import plan_versus_actual

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
