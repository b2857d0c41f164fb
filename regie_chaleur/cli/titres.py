"""Receivables commands, ``regie-chaleur bill titres|pes-settings|pes-retour|pes-file|bank-statement|
sepa-returns|assign-payment``: the régie's titres for the public accountant in PES V2 files and what comes back, or the
bank statements when it collects itself (messages in French, for billing staff)."""

from __future__ import annotations

import argparse
import os
from datetime import date
from pathlib import Path
from typing import Any

from regie_chaleur.settings import Settings


def register_titres(actions: Any) -> None:
    """Add the titres commands to ``bill``'s subcommands."""
    emit = actions.add_parser("titres", help="titres de recettes of the issued invoices and credit notes "
                                             "without one, in a PES V2 file validated against the DGFiP's schema")
    emit.add_argument("--run", dest="run_id", type=int, help="only this bill run's documents (and their credit notes)")
    emit.add_argument("--date", dest="on", type=date.fromisoformat, default=None,
                      help="the bordereaux' date, YYYY-MM-DD (default: today); its year is the exercice")
    emit.add_argument("--output", "-o", type=Path, help="file to write (default: the PES file's name .xml)")
    emit.add_argument("--as", dest="actor", default=os.environ.get("USER", "cli"))
    emit.set_defaults(handler=cmd_titres)
    settings = actions.add_parser("pes-settings", help="how the régie collects and its identifiers in Hélios "
                                                       "(shows them without options)")
    settings.add_argument("--collection", choices=("accountant", "operator"))
    settings.add_argument("--id-post", help="the public accountant's codique (6 or 7 digits)")
    settings.add_argument("--cod-col", help="collectivity code (3 digits)")
    settings.add_argument("--cod-bud", help="budget code (2 characters)")
    settings.add_argument("--product-code", help="local product code of heat sales (CodProdLoc, ≤ 4)")
    settings.add_argument("--nature", help="revenue account of heat sales (e.g. 70613)")
    settings.add_argument("--as", dest="actor", default=os.environ.get("USER", "cli"))
    settings.set_defaults(handler=cmd_pes_settings)
    retour = actions.add_parser("pes-retour", help="import a PES Retour file from the public accountant: titres' "
                                                   "states, payments and write-offs (once per file)")
    retour.add_argument("file", type=Path)
    retour.add_argument("--as", dest="actor", default=os.environ.get("USER", "cli"))
    retour.set_defaults(handler=cmd_pes_retour)
    bank = actions.add_parser("bank-statement", help="import a bank statement (camt.053) and match its credits "
                                                     "to invoices (once per file and per line)")
    bank.add_argument("file", type=Path)
    bank.add_argument("--as", dest="actor", default=os.environ.get("USER", "cli"))
    bank.set_defaults(handler=cmd_bank_statement)
    returns = actions.add_parser("sepa-returns", help="import the bank's direct-debit rejects and returns "
                                                     "(pain.002 or camt.054; once per file and per return)")
    returns.add_argument("file", type=Path)
    returns.add_argument("--as", dest="actor", default=os.environ.get("USER", "cli"))
    returns.set_defaults(handler=cmd_sepa_returns)
    assign = actions.add_parser("assign-payment", help="assign a statement line waiting in the queue to an invoice")
    assign.add_argument("line_id", type=int)
    assign.add_argument("invoice", help="invoice number")
    assign.add_argument("--as", dest="actor", default=os.environ.get("USER", "cli"))
    assign.set_defaults(handler=cmd_assign_payment)
    file = actions.add_parser("pes-file", help="write a stored PES V2 file again")
    file.add_argument("file_id", type=int)
    file.add_argument("--output", "-o", type=Path)
    file.set_defaults(handler=cmd_pes_file)


def cmd_titres(args: argparse.Namespace, settings: Settings) -> int:
    from billing import fr
    from billing.titres import emit_titres, read_file
    from regie_chaleur.db.database import connected

    with connected(settings) as (_db, conn):
        done = emit_titres(conn, actor=args.actor, on=args.on or date.today(), run_id=args.run_id)
        name, content, _ = read_file(conn, done.file_id)
    out = args.output or Path(f"{name}.xml")
    out.write_bytes(content)
    print(f"{out} : {done.titres} titre(s) en {done.bordereaux} bordereau(x), {fr.eur(done.total_ht)} HT, "
          f"conforme au schéma PES V2")
    for item in done.left_out:
        print(f"  non émis : {item}")
    return 0


def cmd_pes_settings(args: argparse.Namespace, settings: Settings) -> int:
    from billing.titres import COLLECTIONS, read_settings, save_settings
    from regie_chaleur.db.database import connected

    fields = ("collection", "id_post", "cod_col", "cod_bud", "product_code", "nature")
    with connected(settings) as (_db, conn):
        current = read_settings(conn)
        given = {k: getattr(args, k) for k in fields if getattr(args, k) is not None}
        if given:
            save_settings(conn, {**current, **given}, actor=args.actor)
            current = read_settings(conn)
    print(f"encaissement : {COLLECTIONS.get(current['collection'], current['collection'])}")
    for label, key in (("poste comptable (codique)", "id_post"), ("code collectivité", "cod_col"),
                       ("code budget", "cod_bud"), ("code produit", "product_code"), ("compte de recette", "nature")):
        print(f"{label} : {current[key] or 'à renseigner'}")
    return 0


def cmd_pes_file(args: argparse.Namespace, settings: Settings) -> int:
    from billing.titres import read_file
    from regie_chaleur.db.database import connected

    with connected(settings) as (_db, conn):
        name, content, _ = read_file(conn, args.file_id)
    out = args.output or Path(f"{name}.xml")
    out.write_bytes(content)
    print(f"{out} : {len(content):,} octets".replace(",", " "))
    return 0


def cmd_pes_retour(args: argparse.Namespace, settings: Settings) -> int:
    from billing.retours import import_retour
    from regie_chaleur.db.database import connected

    with connected(settings) as (_db, conn):
        done = import_retour(conn, args.file.read_bytes(), args.file.name, actor=args.actor)
    if done.already:
        print(f"{args.file} : déjà importé, rien n'a changé")
        return 0
    print(f"{args.file} : {done.titres} titre(s), {done.states_changed} changement(s) d'état, "
          f"{done.emargements} encaissement(s) ou émargement(s) enregistré(s)")
    for item in done.rejected:
        print(f"  rejeté : {item}")
    for item in done.unknown:
        print(f"  ignoré : {item}")
    return 0


def cmd_bank_statement(args: argparse.Namespace, settings: Settings) -> int:
    from billing.bank import import_statement
    from regie_chaleur.db.database import connected

    with connected(settings) as (_db, conn):
        done = import_statement(conn, args.file.read_bytes(), args.file.name, actor=args.actor)
    if done.already:
        print(f"{args.file} : déjà importé, rien n'a changé")
        return 0
    print(f"{args.file} : {done.lines} crédit(s) nouveau(x) ({done.skipped} autre(s) écriture(s) ignorée(s)) : "
          f"{done.matched} rapproché(s), {done.partial} partiel(s), {done.overpaid} trop-perçu(s), "
          f"{done.unmatched} à affecter")
    return 0


def cmd_assign_payment(args: argparse.Namespace, settings: Settings) -> int:
    from billing.bank import STATE_LABELS, assign_line
    from regie_chaleur.db.database import connected

    with connected(settings) as (_db, conn):
        state = assign_line(conn, args.line_id, args.invoice, actor=args.actor)
    print(f"ligne {args.line_id} affectée à {args.invoice.upper()} : {STATE_LABELS[state]}")
    return 0


def cmd_sepa_returns(args: argparse.Namespace, settings: Settings) -> int:
    from billing.sepa_returns import import_returns
    from regie_chaleur.db.database import connected

    with connected(settings) as (_db, conn):
        done = import_returns(conn, args.file.read_bytes(), args.file.name, actor=args.actor)
    if done.already:
        print(f"{args.file} : déjà importé, rien n'a changé")
        return 0
    print(f"{args.file} : {done.recorded} prélèvement(s) revenu(s) impayé(s) enregistré(s)")
    for reference in done.suspended:
        print(f"  mandat suspendu : {reference}")
    for item in done.unknown:
        print(f"  ignoré : {item}")
    return 0
