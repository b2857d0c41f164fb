"""The ``demo`` command: the demonstration network, served until Ctrl-C."""

from __future__ import annotations

import argparse

from regie_chaleur.cli.common import Subparsers
from regie_chaleur.settings import Settings


def register(sub: Subparsers) -> None:
    demo = sub.add_parser("demo", help="run the demonstration (embedded database when none is configured)")
    demo.add_argument("--host")
    demo.add_argument("--port", type=int, help="HTTP port (0: one the system chooses, printed)")
    demo.add_argument("--reset", action="store_true", help="start again from an empty database")
    demo.add_argument("--substations", type=int, default=250, help=argparse.SUPPRESS)  # smaller, for tests
    demo.add_argument("--modbus-port", type=int, default=15020,
                      help="first TCP port of the simulated substations on 127.0.0.1 (one port each; 0: ports the "
                           "system chooses)")
    demo.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.demo.command import run_demo

    return run_demo(settings, host=args.host, port=args.port, reset=args.reset,
                    substation_count=args.substations, modbus_port=args.modbus_port)
