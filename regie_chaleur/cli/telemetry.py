"""Telemetry commands: ``collect`` (poll the registry's devices) and ``simulate`` (serve simulated
substations over Modbus TCP)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from regie_chaleur.cli.common import Subparsers
from regie_chaleur.errors import RegieError
from regie_chaleur.settings import Settings


def register(sub: Subparsers) -> None:
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
    simulate.add_argument("--resetting-share", type=float, default=0.0,
                          help="share of substations whose meter resets every other request (0-1)")
    simulate.set_defaults(handler=cmd_simulate)


def cmd_collect(args: argparse.Namespace, settings: Settings) -> int:
    settings.check_secrets()
    from regie_chaleur.db.database import open_database
    from regie_chaleur.services.telemetry import Shard, run_collector

    shard = Shard.parse(args.shard)
    db = open_database(settings)  # migrates in demo/development; keeps an embedded server alive
    try:
        return run_collector(settings, db.url, shard)
    finally:
        db.close()


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.services.telemetry import fleet_inventory, profiles_for, run_simulator
    from telemetry.simulator.fleet import fleet_specs

    specs = fleet_specs(args.substations, args.port, args.base_address, shared_host=args.shared_host)
    if args.write_inventory:
        if args.advertise_host:
            specs = [dataclasses.replace(s, host=args.advertise_host) for s in specs]
        args.write_inventory.write_text(fleet_inventory(specs), encoding="utf-8")
        print(f"wrote the inventory of {len(specs)} simulated substations to {args.write_inventory}")
        return 0
    if not 0 <= args.resetting_share <= 1:
        raise RegieError("--resetting-share: a share between 0 and 1")
    return run_simulator(specs, profiles_for(settings), args.latency_ms / 1000.0, args.ready_file,
                         args.resetting_share)
