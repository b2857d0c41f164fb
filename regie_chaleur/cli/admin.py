"""Administration commands: ``config``, ``db`` and ``network`` (accounts: :mod:`regie_chaleur.cli.users`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, date
from pathlib import Path
from typing import TYPE_CHECKING

from regie_chaleur.cli.common import Subparsers
from regie_chaleur.errors import RegieError
from regie_chaleur.settings import Settings

if TYPE_CHECKING:
    from telemetry.profiles import Profile


def register(sub: Subparsers) -> None:
    config = sub.add_parser("config", help="settings").add_subparsers(dest="action", required=True)
    config.add_parser("show", help="print the effective settings, secrets masked").set_defaults(handler=cmd_config_show)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="action", required=True)
    migrate_cmd = db.add_parser("migrate", help="apply pending migrations (as the tables' owner)")
    migrate_cmd.add_argument("--app-role", help="then grant this application role its privileges (db app-role)")
    migrate_cmd.set_defaults(handler=cmd_db_migrate)
    app_role = db.add_parser("app-role", help="create or update the application's database role: data, no "
                             "ownership, no TRUNCATE, no trigger changes, append-only audit (run as the owner)")
    app_role.add_argument("role")
    app_role.add_argument("--password-stdin", action="store_true",
                          help="read its password from standard input (else REGIE_APP_ROLE_PASSWORD, if set)")
    app_role.set_defaults(handler=cmd_db_app_role)
    db.add_parser("status", help="list migrations and the TimescaleDB mode").set_defaults(handler=cmd_db_status)
    retention = db.add_parser("retention", help="keep a time-series table's raw rows this many days")
    retention.add_argument("table", choices=("substation_samples", "device_samples"))
    retention.add_argument("days", type=int)
    retention.set_defaults(handler=cmd_db_retention)
    refresh = db.add_parser("refresh-rollups", help="roll up again the Europe/Paris days FIRST to LAST (included)")
    refresh.add_argument("first", type=date.fromisoformat, help="YYYY-MM-DD")
    refresh.add_argument("last", type=date.fromisoformat, help="YYYY-MM-DD")
    refresh.set_defaults(handler=cmd_db_refresh_rollups)

    network = sub.add_parser("network", help="network registry").add_subparsers(dest="action", required=True)
    imp = network.add_parser("import", help="import an inventory (YAML or CSV); all-or-nothing")
    imp.add_argument("file", type=Path)
    imp.set_defaults(handler=cmd_network_import)
    exp = network.add_parser("export", help="export the inventory")
    exp.add_argument("--format", choices=("yaml", "csv"), default="yaml")
    exp.add_argument("--output", "-o", type=Path, help="file to write (default: standard output)")
    exp.set_defaults(handler=cmd_network_export)



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
            if args.app_role:
                from regie_chaleur.db.roles import grant_app_role

                grant_app_role(conn, args.app_role, os.environ.get("REGIE_APP_ROLE_PASSWORD") or None)
        print(f"TimescaleDB mode: {caps.mode}")
        print(f"applied {len(applied)} migration(s): " + (", ".join(applied) if applied else "schema is current"))
        if args.app_role:
            print(f"application role {args.app_role}: privileges granted")
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


def cmd_db_app_role(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.db.database import connect, resolve_url
    from regie_chaleur.db.roles import grant_app_role

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else \
        os.environ.get("REGIE_APP_ROLE_PASSWORD") or None
    url, embedded = resolve_url(settings)
    try:
        with connect(url) as conn:
            created = grant_app_role(conn, args.role, password)
    finally:
        if embedded is not None:
            embedded.stop()
    print(f"application role {args.role} {'created' if created else 'updated'}: data read and written, no "
          "ownership, no TRUNCATE, no trigger changes, audit append-only")
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


def cmd_db_refresh_rollups(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.db.database import connected
    from regie_chaleur.operations.rollups import paris_day_bounds, refresh_operations

    if args.last < args.first:
        raise RegieError("refresh-rollups: LAST is before FIRST")
    lo, hi = paris_day_bounds(args.first, args.last)
    with connected(settings) as (_db, conn):
        done_lo, done_hi = refresh_operations(conn, lo, hi)
    print(f"rollups refreshed from {done_lo.astimezone(UTC).isoformat()} to {done_hi.astimezone(UTC).isoformat()}")
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
    from regie_chaleur.registry.capacities import fill_meter_capacities
    from regie_chaleur.registry.store import import_inventory_text

    path: Path = args.file
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RegieError(f"cannot read {path}: {exc.strerror}") from exc
    with connected(settings) as (_db, conn):
        report = import_inventory_text(conn, text, str(path), profiles=_known_profiles(settings))
        completed = fill_meter_capacities(conn, _known_profiles(settings))
    print(f"{path}: {report}" + (f"; {completed} meter(s) given their profile's capacities" if completed else ""))
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


def _known_profiles(settings: Settings) -> dict[str, Profile]:
    """Device profiles (shipped, plus REGIE_PROFILES_DIR)."""
    from regie_chaleur.services.telemetry import profiles_for

    return profiles_for(settings)
