"""The ``regie-chaleur`` command line: the parser assembled from one module per command group.

| group | module |
| --- | --- |
| administration: ``config``, ``db``, ``network`` | :mod:`regie_chaleur.cli.admin` |
| accounts and API tokens: ``users`` | :mod:`regie_chaleur.cli.users` |
| services: ``serve``, ``scheduler`` | :mod:`regie_chaleur.cli.service` |
| telemetry: ``collect``, ``simulate`` | :mod:`regie_chaleur.cli.telemetry` |
| forecasting and planning: ``forecast``, ``plan``, ``weather`` | :mod:`regie_chaleur.cli.forecasting` |
| billing: ``bill`` | :mod:`regie_chaleur.cli.billing` |
| the demonstration: ``demo`` | :mod:`regie_chaleur.cli.demo` |
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from billing.errors import BillingError
from regie_chaleur.cli import admin, billing, demo, forecasting, service, telemetry, users
from regie_chaleur.cli.common import Handler
from regie_chaleur.errors import RegieError
from regie_chaleur.settings import load_settings

GROUPS = (admin, users, service, telemetry, forecasting, billing, demo)


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
    except KeyboardInterrupt:  # Ctrl-C: what was started has been stopped on the way out
        print("regie-chaleur: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="regie-chaleur", description="District heating network management.")
    parser.add_argument("--config", type=Path, help="TOML settings file (same as REGIE_CONFIG_FILE)")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
    return parser
