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

from billing.errors import BillingError
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
        logging.getLogger("factur-x").setLevel(logging.WARNING)  # two INFO lines per document otherwise
        handler: Handler = args.handler
        return handler(args, settings)
    except RegieError as exc:
        print(f"regie-chaleur: error: {exc}", file=sys.stderr)
        return 2
    except BillingError as exc:  # messages for billing staff, in French
        print(f"regie-chaleur : erreur : {exc}", file=sys.stderr)
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
    serve.add_argument("--workers", type=int, help="worker processes (default REGIE_HTTP_WORKERS, 1)")
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

    add_bill_commands(sub)

    users = sub.add_parser("users", help="accounts of the web application").add_subparsers(dest="action",
                                                                                          required=True)
    create = users.add_parser("create", help="create an account (the first admin, for instance)")
    create.add_argument("--login", required=True)
    create.add_argument("--role", required=True, choices=("admin", "operator", "billing", "subscriber"))
    create.add_argument("--name", required=True, help="display name")
    create.add_argument("--subscriber", help="subscriber code (for a subscriber account)")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    create.set_defaults(handler=cmd_users_create)
    token = users.add_parser("token", help="create an API token for an account (printed once)")
    token.add_argument("login")
    token.add_argument("--name", required=True, help="what the token is for")
    token.set_defaults(handler=cmd_users_token)
    users.add_parser("list", help="list the accounts").set_defaults(handler=cmd_users_list)

    sched = sub.add_parser("scheduler", help="run the periodic jobs (rollups, retention)")
    sched.add_argument("--every", type=float, default=300.0, help="seconds between passes")
    sched.add_argument("--once", action="store_true", help="one pass, then exit")
    sched.set_defaults(handler=cmd_scheduler)

    demo = sub.add_parser("demo", help="run the demonstration (embedded database when none is configured)")
    demo.add_argument("--host")
    demo.add_argument("--port", type=int)
    demo.add_argument("--reset", action="store_true", help="start again from an empty database")
    demo.add_argument("--substations", type=int, default=250, help=argparse.SUPPRESS)  # smaller, for tests
    demo.add_argument("--modbus-port", type=int, default=15020,
                      help="first TCP port of the simulated substations on 127.0.0.1 (one port each)")
    demo.set_defaults(handler=cmd_demo)
    return parser


def add_bill_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``regie-chaleur bill ...``: billing (messages in French, for billing staff)."""
    bill = sub.add_parser("bill", help="billing: runs, invoices, credit notes, tariffs and indices")
    actions = bill.add_subparsers(dest="action", required=True)
    run = actions.add_parser("run", help="bill a month: simulate, then issue unless --simulate")
    run.add_argument("--period", required=True, help="the month billed, YYYY-MM")
    run.add_argument("--simulate", action="store_true", help="drafts only, for review (nothing numbered)")
    run.add_argument("--as", dest="actor", default=os.environ.get("USER", "cli"), help="who runs it (audit trail)")
    run.set_defaults(handler=cmd_bill_run)
    issue = actions.add_parser("issue", help="issue the drafts of a simulated run")
    issue.add_argument("run_id", type=int)
    issue.add_argument("--as", dest="actor", default=os.environ.get("USER", "cli"))
    issue.set_defaults(handler=cmd_bill_issue)
    show = actions.add_parser("show", help="a run's totals and review list")
    show.add_argument("run_id", type=int)
    show.set_defaults(handler=cmd_bill_show)
    credit = actions.add_parser("credit", help="credit note for an issued invoice (full unless --line)")
    credit.add_argument("invoice", help="invoice number, e.g. FAC-2026-000123")
    credit.add_argument("--reason", required=True, help="why (printed on the credit note)")
    credit.add_argument("--line", action="append", default=[], metavar="N=AMOUNT",
                        help="partial credit: line number and amount excl. VAT [€] (repeatable)")
    credit.add_argument("--reissue", action="store_true", help="then issue the corrected invoice (full credit)")
    credit.add_argument("--as", dest="actor", default=os.environ.get("USER", "cli"))
    credit.set_defaults(handler=cmd_bill_credit)
    for kind, what in (("tariffs", "tariff versions"), ("indices", "index values"), ("formulas", "indexation formulas"),
                       ("subscribers", "subscribers"), ("contracts", "contracts")):
        imp = actions.add_parser(f"import-{kind}", help=f"import {what} from CSV (all or nothing)")
        imp.add_argument("file", type=Path)
        imp.add_argument("--as", dest="actor", default=os.environ.get("USER", "cli"))
        imp.set_defaults(handler=cmd_bill_import, kind=kind)
    docs = actions.add_parser("documents", help="generate the missing PDF/Factur-X documents of a run")
    docs.add_argument("run_id", type=int)
    docs.add_argument("--workers", type=int, default=1, help="worker processes rendering documents")
    docs.set_defaults(handler=cmd_bill_documents)
    sepa = actions.add_parser("export-sepa", help="SEPA direct-debit file (pain.008) of a run")
    sepa.add_argument("run_id", type=int)
    sepa.add_argument("--collection-date", type=date.fromisoformat, required=True, help="YYYY-MM-DD")
    sepa.add_argument("--output", "-o", type=Path, help="file to write (default: prelevements-RUN-DATE.xml)")
    sepa.add_argument("--as", dest="actor", default=os.environ.get("USER", "cli"))
    sepa.set_defaults(handler=cmd_bill_export_sepa)
    acc = actions.add_parser("export-accounting", help="accounting journal and titles of a run (CSV)")
    acc.add_argument("run_id", type=int)
    acc.add_argument("--output-dir", "-o", type=Path, default=Path("."), help="folder to write the two files in")
    acc.set_defaults(handler=cmd_bill_export_accounting)
    issuer = actions.add_parser("issuer", help="set the régie's identity shown on documents, from YAML")
    issuer.add_argument("file", type=Path)
    issuer.add_argument("--as", dest="actor", default=os.environ.get("USER", "cli"))
    issuer.set_defaults(handler=cmd_bill_issuer)
    vat = actions.add_parser("vat", help="record a network's renewable-and-recovered share (sets the VAT rates)")
    vat.add_argument("network")
    vat.add_argument("--from", dest="valid_from", type=date.fromisoformat, required=True)
    vat.add_argument("--to", dest="valid_to", type=date.fromisoformat)
    vat.add_argument("--share", type=str, required=True, help="renewable and recovered share [%%]")
    vat.add_argument("--justification", required=True)
    vat.add_argument("--as", dest="actor", default=os.environ.get("USER", "cli"))
    vat.set_defaults(handler=cmd_bill_vat)


def _progress(stage: str) -> Callable[[int, int], None]:
    """A progress bar on standard error for one stage of a run."""
    from tqdm import tqdm

    label = {"simulate": "calcul", "issue": "émission", "documents": "documents"}.get(stage, stage)
    bar: list[tqdm] = []  # type: ignore[type-arg]

    def update(done: int, total: int) -> None:
        if not bar:
            bar.append(tqdm(total=total, desc=label, unit="contrat", file=sys.stderr, leave=True))
        bar[0].update(done - bar[0].n)
        if done >= total:
            bar[0].close()
    return update


def cmd_bill_run(args: argparse.Namespace, settings: Settings) -> int:
    from billing.periods import parse_month
    from regie_chaleur.billing_service import bill_month
    from regie_chaleur.db.database import connected

    try:
        month = parse_month(args.period)
    except ValueError as exc:
        raise RegieError(f"--period : {exc}") from exc
    with connected(settings) as (_db, conn):
        result = bill_month(conn, month, actor=args.actor, simulate_only=args.simulate, progress=_progress)
    _print_run(result.run)
    if result.issued is not None:
        done = result.issued
        print(f"émises : {done.issued} facture(s)" + (f", de {done.first_number} à {done.last_number}"
                                                      if done.issued else ""))
    elif result.run.status == "simulated":
        print(f"brouillons à revoir ; émettre avec `regie-chaleur bill issue {result.run.run_id}`")
    return 0


def _print_run(run: object) -> None:
    from billing import fr
    from billing.runs import RunSummary

    assert isinstance(run, RunSummary)  # noqa: S101
    if run.status == "nothing_due" or (run.contracts == 0 and run.invoices == 0):
        print(f"{fr.month(run.month)} : rien à facturer (tout est déjà facturé)")
        return
    print(f"tournée {run.run_id} — {fr.month(run.month)} — {run.status}")
    print(f"  contrats dus : {run.contracts} ; factures : {run.invoices} ; exceptions bloquantes : {run.blocking}")
    print(f"  total HT {fr.eur(run.total_ht)} ; total TTC {fr.eur(run.total_ttc)}")
    for e in run.exceptions:
        print(f"  {'BLOQUANT' if e.blocking else 'à noter '} {e.contract:<16} {e.code:<24} {e.message}")


def cmd_bill_issue(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.billing_service import issue_with_documents
    from regie_chaleur.db.database import connected

    with connected(settings) as (_db, conn):
        done = issue_with_documents(conn, args.run_id, actor=args.actor, progress=_progress)
    if done.issued == 0:
        print(f"tournée {args.run_id} : rien à émettre (déjà émise)")
    else:
        print(f"tournée {args.run_id} : {done.issued} facture(s) émise(s), de {done.first_number} à {done.last_number}")
    return 0


def cmd_bill_documents(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.db.database import connected
    from regie_chaleur.documents_service import generate_run_documents

    with connected(settings) as (_db, conn):
        made = generate_run_documents(conn, args.run_id, workers=args.workers, progress=_progress("documents"))
    print(f"tournée {args.run_id} : {made} document(s) PDF/Factur-X générés et archivés")
    return 0


def cmd_bill_export_sepa(args: argparse.Namespace, settings: Settings) -> int:
    from billing import fr
    from billing.exports.sepa import export_sepa
    from regie_chaleur.db.database import connected

    with connected(settings) as (_db, conn):
        done = export_sepa(conn, args.run_id, args.collection_date, actor=args.actor)
    out = args.output or Path(f"prelevements-{args.run_id}-{args.collection_date:%Y%m%d}.xml")
    out.write_bytes(done.content)
    print(f"{out} : {done.payments} prélèvement(s) ({done.first} premier(s)), {fr.eur(done.total)}, "
          f"le {fr.day(args.collection_date)}")
    return 0


def cmd_bill_export_accounting(args: argparse.Namespace, settings: Settings) -> int:
    from billing import fr
    from billing.exports.accounting import export_accounting
    from regie_chaleur.db.database import connected

    with connected(settings) as (_db, conn):
        done = export_accounting(conn, args.run_id)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    journal = args.output_dir / f"journal-{args.run_id}.csv"
    titles = args.output_dir / f"titres-{args.run_id}.csv"
    journal.write_text(done.journal_csv, encoding="utf-8")
    titles.write_text(done.titles_csv, encoding="utf-8")
    print(f"{journal} : {done.entries} écriture(s), débit {fr.eur(done.debit)} = crédit {fr.eur(done.credit)}")
    print(f"{titles} : {done.entries} titre(s)")
    return 0


def cmd_bill_show(args: argparse.Namespace, settings: Settings) -> int:
    from billing.runs import run_summary
    from regie_chaleur.db.database import connected

    with connected(settings) as (_db, conn):
        _print_run(run_summary(conn, args.run_id))
    return 0


def cmd_bill_credit(args: argparse.Namespace, settings: Settings) -> int:
    from billing import fr
    from billing.money import dec
    from regie_chaleur.billing_service import credit
    from regie_chaleur.db.database import connected

    lines = None
    if args.line:
        try:
            lines = {int(no): dec(value.replace(",", ".")) for no, value in (x.split("=", 1) for x in args.line)}
        except ValueError as exc:
            raise RegieError(f"--line attend N=MONTANT, par exemple 1=100,00 ({exc})") from exc
    with connected(settings) as (_db, conn):
        result = credit(conn, args.invoice, actor=args.actor, reason=args.reason, lines=lines, reissue=args.reissue)
    kind = "total" if result.full else "partiel"
    print(f"avoir {kind} {result.credit_note_number} : {fr.eur(result.total_ttc)} TTC sur {args.invoice}")
    if result.corrected_invoice_number:
        print(f"facture rectificative {result.corrected_invoice_number}")
    return 0


def cmd_bill_import(args: argparse.Namespace, settings: Settings) -> int:
    from billing import imports
    from regie_chaleur.db.database import connected

    try:
        text = args.file.read_text(encoding="utf-8")
    except OSError as exc:
        raise RegieError(f"cannot read {args.file}: {exc.strerror}") from exc
    function = getattr(imports, f"import_{args.kind}")
    with connected(settings) as (_db, conn):
        report = function(conn, text, str(args.file), actor=args.actor)
    print(f"{args.file} : {report}")
    return 0


def cmd_bill_issuer(args: argparse.Namespace, settings: Settings) -> int:
    import yaml

    from billing.records import save_issuer
    from regie_chaleur.db.database import connected

    try:
        data = yaml.safe_load(args.file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RegieError(f"cannot read {args.file}: {exc}") from exc
    if not isinstance(data, dict):
        raise RegieError(f"{args.file}: a mapping of the issuer's fields is expected")
    with connected(settings) as (_db, conn):
        save_issuer(conn, {k: str(v) for k, v in data.items() if v is not None}, actor=args.actor)
    print(f"émetteur enregistré : {data.get('name')}")
    return 0


def cmd_bill_vat(args: argparse.Namespace, settings: Settings) -> int:
    from billing import fr
    from billing.money import dec
    from billing.records import save_vat_period
    from regie_chaleur.db.database import connected

    with connected(settings) as (_db, conn):
        r1, r2 = save_vat_period(conn, args.network, args.valid_from, args.valid_to, dec(args.share.replace(",", ".")),
                                 args.justification, actor=args.actor)
    print(f"{args.network} à partir du {fr.day(args.valid_from)} : R1 à {fr.percent(r1)}, R2 à {fr.percent(r2)}")
    return 0


def cmd_users_create(args: argparse.Namespace, settings: Settings) -> int:
    import getpass

    from regie_chaleur.db.database import connected
    from regie_chaleur.web.security import AuthError, create_user

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Mot de passe (12 caractères au moins) : ")
        if getpass.getpass("Confirmation : ") != password:
            raise RegieError("les deux mots de passe diffèrent")
    with connected(settings) as (_db, conn):
        try:
            user = create_user(conn, args.login, args.name, args.role, password, args.subscriber)
        except AuthError as exc:
            raise RegieError(str(exc)) from exc
    print(f"account {user.login} created (role {user.role})")
    return 0


def cmd_users_token(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.db.database import connected
    from regie_chaleur.web.security import create_api_token

    with connected(settings) as (_db, conn):
        row = conn.execute("SELECT id FROM users WHERE login = %s AND active", (args.login.lower(),)).fetchone()
        if row is None:
            raise RegieError(f"no active account {args.login}")
        token = create_api_token(conn, int(row[0]), args.name)
    print(token)
    return 0


def cmd_users_list(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.db.database import connected

    with connected(settings) as (_db, conn):
        for login, name, role, active, last in conn.execute(
                "SELECT login, display_name, role, active, last_login_at FROM users ORDER BY role, login"):
            print(f"{login:<24} {role:<11} {'active' if active else 'inactive':<9} {name} "
                  f"(last login {last.isoformat(timespec='minutes') if last else 'never'})")
    return 0


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
                          country, args.tz, args.refit_days, args.school_holidays)
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
        issued = run_network_forecast(conn, provider, school_holidays=settings.school_holidays(),
                                      substation=args.substation)
    what = "network" if args.substation is None else args.substation
    print(f"{what} forecast {issued.id} issued at {issued.issued_at.isoformat()} for {issued.hours} h "
          f"(weather: {provider.name})")
    return 0


def cmd_forecast_accuracy(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from regie_chaleur.db.database import connected
    from regie_chaleur.forecast_service import forecast_accuracy

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
    workers = args.workers or settings.http_workers
    host, port = args.host or settings.http_host, args.port or settings.http_port
    if workers > 1:
        import uvicorn

        if db.embedded is not None:
            db.close()
            raise RegieError("several workers need a configured database (REGIE_DATABASE_URL), not the embedded one")
        db.close()  # migrated; each worker opens its own pool
        print(f"regie-chaleur: serving on http://{host}:{port}/ with {workers} workers", flush=True)
        uvicorn.run("regie_chaleur.api.asgi:app", factory=True, host=host, port=port, workers=workers,
                    log_level="warning", proxy_headers=True)
        return 0
    _serve(db, host, port, request_threads=settings.http_threads)
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
                             settings.forecast_every_h, settings.school_holidays())
    finally:
        db.close()
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.demo import run_demo

    return run_demo(settings, host=args.host, port=args.port, reset=args.reset,
                    substation_count=args.substations, modbus_port=args.modbus_port)


def _serve(db: Database, host: str, port: int, *, close_on_shutdown: bool = True, request_threads: int = 1) -> None:
    import uvicorn

    from regie_chaleur.api.app import create_app

    app = create_app(db, on_shutdown=db.close if close_on_shutdown else None, request_threads=request_threads)
    print(f"regie-chaleur: serving on http://{host}:{port}/ (API docs: http://{host}:{port}/api/docs)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=True)


if __name__ == "__main__":
    sys.exit(main())
