"""Billing commands about what is billed and to whom (``regie-chaleur bill ...``, messages in French):
meter readings and replacements, contract ends, changes of occupant and final invoices, contracts over
several delivery points, subscribed power, reductions, the billing policy, closing a tariff or a VAT
period. Every one is audited with ``--as``."""

from __future__ import annotations

import argparse
import os
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from regie_chaleur.errors import RegieError
from regie_chaleur.settings import Settings


def _actor(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--as", dest="actor", default=os.environ.get("USER", "cli"), help="who (audit trail)")


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text.replace(",", ".").replace(" ", ""))
    except ArithmeticError as exc:
        raise argparse.ArgumentTypeError(f"nombre attendu : {text}") from exc


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("l'instant doit porter son fuseau, par exemple 2026-10-16T08:00+02:00")
    return value


def register_records(actions: Any) -> None:
    """Add the record commands to ``bill``'s subcommands."""
    reading = actions.add_parser("reading", help="record a meter index (agent, subscriber) or correct one")
    reading.add_argument("meter", help="meter code")
    reading.add_argument("--date", type=date.fromisoformat, required=True, help="the index at 0 h that day")
    reading.add_argument("--index", type=_decimal, required=True, help="[kWh]")
    reading.add_argument("--kind", choices=("manual", "subscriber", "correction"), default="manual")
    reading.add_argument("--reason", default="", help="why (required for a correction)")
    reading.add_argument("--read-at", type=_instant, help="when it was actually read (ISO, with time zone)")
    reading.add_argument("--confirm", action="store_true", help="save despite plausibility warnings")
    _actor(reading)
    reading.set_defaults(handler=cmd_reading)
    meter = actions.add_parser("meter-replace", help="a delivery point's meter replaced")
    meter.add_argument("delivery_point")
    meter.add_argument("--at", type=_instant, required=True, help="when (ISO, with time zone)")
    meter.add_argument("--old-index", type=_decimal, required=True, help="old meter's final index [kWh]")
    meter.add_argument("--new-meter", required=True, help="new meter's serial number (created if new)")
    meter.add_argument("--new-index", type=_decimal, required=True, help="new meter's initial index [kWh]")
    _actor(meter)
    meter.set_defaults(handler=cmd_meter_replace)
    end = actions.add_parser("contract-end", help="end a contract (moving out) on its last day of supply")
    end.add_argument("contract")
    end.add_argument("--last-day", type=date.fromisoformat, required=True)
    _actor(end)
    end.set_defaults(handler=cmd_contract_end)
    occupant = actions.add_parser("occupant", help="change of occupant: the contract ends, the next one starts "
                                                   "the day after")
    occupant.add_argument("delivery_point")
    occupant.add_argument("--last-day", type=date.fromisoformat, required=True, help="the leaving occupant's")
    for name in ("number", "subscriber", "category", "power-kw"):
        occupant.add_argument(f"--{name}", required=True, help=f"the new contract's {name}")
    occupant.add_argument("--frequency", default="monthly", choices=("monthly", "quarterly", "yearly"))
    occupant.add_argument("--payment-method", default="transfer", choices=("transfer", "sepa"))
    occupant.add_argument("--mandate", help="SEPA mandate reference (with --payment-method sepa)")
    _actor(occupant)
    occupant.set_defaults(handler=cmd_occupant)
    final = actions.add_parser("final", help="the final invoice of an ended contract")
    final.add_argument("contract")
    _actor(final)
    final.set_defaults(handler=cmd_final)
    point = actions.add_parser("contract-add-point", help="a contract covers one more delivery point")
    point.add_argument("contract")
    point.add_argument("delivery_point")
    _actor(point)
    point.set_defaults(handler=cmd_add_point)
    power = actions.add_parser("power", help="a new subscribed power from a date")
    power.add_argument("contract")
    power.add_argument("--from", dest="valid_from", type=date.fromisoformat, required=True)
    power.add_argument("--kw", type=_decimal, required=True)
    power.add_argument("--reason", required=True)
    _actor(power)
    power.set_defaults(handler=cmd_power)
    reduction = actions.add_parser("reduction", help="a reduction voted for a tariff category")
    reduction.add_argument("category")
    reduction.add_argument("--from", dest="valid_from", type=date.fromisoformat, required=True)
    reduction.add_argument("--to", dest="valid_to", type=date.fromisoformat, help="first day it no longer applies")
    reduction.add_argument("--percent", type=_decimal, required=True)
    reduction.add_argument("--applies-to", choices=("R1", "R2", "R1R2"), required=True)
    reduction.add_argument("--deliberation", required=True)
    reduction.add_argument("--label", default="Réduction sociale")
    _actor(reduction)
    reduction.set_defaults(handler=cmd_reduction)
    policy = actions.add_parser("policy", help="the billing policy of a network (or the régie's default)")
    policy.add_argument("network", nargs="?", help="a network's code (none: the default)")
    policy.add_argument("--r2-proration", choices=("monthly_twelfth", "days_in_year"), default="monthly_twelfth")
    policy.add_argument("--unit-price-places", default="4")
    policy.add_argument("--implausible-factor", default="1.5")
    policy.add_argument("--reading-window-hours", default="24")
    policy.add_argument("--estimation", choices=("degree_days", "recent_average"), default="degree_days")
    _actor(policy)
    policy.set_defaults(handler=cmd_policy)
    for what, key in (("tariff", "category"), ("vat", "network")):
        label = "tariff version" if what == "tariff" else "VAT period"
        close = actions.add_parser(f"{what}-close", help=f"end a {label}")
        close.add_argument(key)
        close.add_argument("valid_from", type=date.fromisoformat, help="its first day")
        close.add_argument("--to", dest="valid_to", type=date.fromisoformat, required=True,
                           help="the first day it no longer applies")
        _actor(close)
        close.set_defaults(handler=cmd_close, what=what)


def _connected(settings: Settings) -> Any:
    from regie_chaleur.db.database import connected

    return connected(settings)


def cmd_reading(args: argparse.Namespace, settings: Settings) -> int:
    from billing import fr
    from billing.meters import PlausibilityWarning, record_reading

    with _connected(settings) as (_db, conn):
        try:
            saved = record_reading(conn, args.meter, args.date, args.index, args.kind, args.reason, actor=args.actor,
                                   read_at=args.read_at, confirm=args.confirm)
        except PlausibilityWarning as exc:
            raise RegieError(f"relevé non enregistré, {exc} (relancer avec --confirm pour l'enregistrer)") from exc
    print(f"compteur {args.meter} : index {fr.number(args.index)} kWh au {fr.day(args.date)} enregistré"
          + (f" malgré : {' ; '.join(saved.warnings)}" if saved.warnings else ""))
    return 0


def cmd_meter_replace(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.services.meters import replace_meter

    with _connected(settings) as (_db, conn):
        replace_meter(conn, args.delivery_point, args.at, args.old_index, args.new_meter, args.new_index,
                      actor=args.actor)
    print(f"{args.delivery_point} : compteur remplacé par {args.new_meter}")
    return 0


def cmd_contract_end(args: argparse.Namespace, settings: Settings) -> int:
    from billing import fr
    from billing.occupancy import end_contract

    with _connected(settings) as (_db, conn):
        end_contract(conn, args.contract, args.last_day, actor=args.actor)
    print(f"contrat {args.contract} clos au {fr.day(args.last_day)} ; facture de fin : "
          f"`regie-chaleur bill final {args.contract}`")
    return 0


def cmd_occupant(args: argparse.Namespace, settings: Settings) -> int:
    from billing import fr
    from billing.occupancy import change_occupant

    data = {"number": args.number, "subscriber": args.subscriber, "category": args.category,
            "power_kw": args.power_kw, "frequency": args.frequency, "payment_method": args.payment_method,
            "mandate": args.mandate or ""}
    with _connected(settings) as (_db, conn):
        change_occupant(conn, args.delivery_point, args.last_day, data, actor=args.actor)
    print(f"{args.delivery_point} : nouvel occupant, contrat {args.number} à partir du "
          f"{fr.day(date.fromordinal(args.last_day.toordinal() + 1))}")
    return 0


def cmd_final(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.services.billing import final_invoice

    with _connected(settings) as (_db, conn):
        result = final_invoice(conn, args.contract, actor=args.actor)
    print_run(result.run)
    if result.issued is not None and result.issued.issued:
        print(f"facture de fin {result.issued.first_number} émise")
    return 0


def cmd_add_point(args: argparse.Namespace, settings: Settings) -> int:
    from billing.occupancy import add_delivery_point

    with _connected(settings) as (_db, conn):
        add_delivery_point(conn, args.contract, args.delivery_point, actor=args.actor)
    print(f"le contrat {args.contract} couvre aussi {args.delivery_point}")
    return 0


def cmd_power(args: argparse.Namespace, settings: Settings) -> int:
    from billing import fr
    from billing.records import change_power

    with _connected(settings) as (_db, conn):
        warnings = change_power(conn, args.contract, args.valid_from, args.kw, args.reason, actor=args.actor)
    print(f"{args.contract} : {fr.number(args.kw)} kW à partir du {fr.day(args.valid_from)}")
    for w in warnings:
        print(f"attention : {w}")
    return 0


def cmd_reduction(args: argparse.Namespace, settings: Settings) -> int:
    from billing import fr
    from billing.regie import save_reduction

    with _connected(settings) as (_db, conn):
        save_reduction(conn, args.category, args.valid_from, args.valid_to, args.percent, args.applies_to,
                       args.deliberation, args.label, actor=args.actor)
    print(f"{args.label} de {fr.percent(args.percent)} sur {args.applies_to} pour {args.category} "
          f"à partir du {fr.day(args.valid_from)}")
    return 0


def cmd_policy(args: argparse.Namespace, settings: Settings) -> int:
    from billing.regie import save_policy

    data = {"r2_proration": args.r2_proration, "unit_price_places": args.unit_price_places,
            "implausible_factor": args.implausible_factor, "reading_window_hours": args.reading_window_hours,
            "estimation": args.estimation}
    with _connected(settings) as (_db, conn):
        save_policy(conn, args.network, data, actor=args.actor)
    print(f"règles de facturation {'du réseau ' + args.network if args.network else 'par défaut'} enregistrées")
    return 0


def cmd_close(args: argparse.Namespace, settings: Settings) -> int:
    from billing import fr
    from billing.succession import close_tariff, close_vat_period

    with _connected(settings) as (_db, conn):
        if args.what == "tariff":
            close_tariff(conn, args.category, args.valid_from, args.valid_to, actor=args.actor)
            what = f"tarif {args.category}"
        else:
            close_vat_period(conn, args.network, args.valid_from, args.valid_to, actor=args.actor)
            what = f"période de TVA du réseau {args.network}"
    print(f"{what} du {fr.day(args.valid_from)} clos : il ne s'applique plus à partir du {fr.day(args.valid_to)}")
    return 0


def print_run(run: object) -> None:
    from billing import fr
    from billing.errors import exception_label
    from billing.runs import RunSummary

    assert isinstance(run, RunSummary)  # noqa: S101
    if run.status == "nothing_due" or (run.contracts == 0 and run.invoices == 0):
        print(run.message or f"{fr.month(run.month)} : rien à facturer")
        return
    print(f"tournée {run.run_id} — {fr.month(run.month)} — {run.status}")
    print(f"  contrats dus : {run.contracts} ; factures : {run.invoices} ; exceptions bloquantes : {run.blocking}")
    print(f"  total HT {fr.eur(run.total_ht)} ; total TTC {fr.eur(run.total_ttc)}")
    for e in run.exceptions:
        kind = "BLOQUANT" if e.blocking else "à noter "
        print(f"  {kind} {e.contract:<16} {exception_label(e.code):<34} {e.message}")
