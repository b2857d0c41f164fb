"""Billing commands, ``regie-chaleur bill ...``: runs, invoices, credit notes, imports, exports (messages in
French, for billing staff)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

from regie_chaleur.cli.billing_records import print_run, register_records
from regie_chaleur.cli.common import Subparsers
from regie_chaleur.cli.titres import register_titres
from regie_chaleur.errors import RegieError
from regie_chaleur.settings import Settings


def register(sub: Subparsers) -> None:
    """``regie-chaleur bill ...``: billing (messages in French, for billing staff)."""
    bill = sub.add_parser("bill", help="billing: runs, invoices, credit notes, tariffs and indices")
    actions = bill.add_subparsers(dest="action", required=True)
    run = actions.add_parser("run", help="bill a month: simulate, then issue unless --simulate")
    run.add_argument("--period", required=True, help="the month billed, YYYY-MM")
    run.add_argument("--simulate", action="store_true", help="drafts only, for review (nothing numbered)")
    run.add_argument("--as", dest="actor", default=os.environ.get("USER", "cli"), help="who runs it (audit trail)")
    run.set_defaults(handler=cmd_bill_run)
    issue = actions.add_parser("issue", help="issue the drafts of a simulated run (asks to confirm)")
    issue.add_argument("run_id", type=int)
    issue.add_argument("--yes", action="store_true", help="confirmed: do not ask")
    issue.add_argument("--as", dest="actor", default=os.environ.get("USER", "cli"))
    issue.set_defaults(handler=cmd_bill_issue)
    discard = actions.add_parser("discard", help="throw a simulated run away (its drafts and review list)")
    discard.add_argument("run_id", type=int)
    discard.add_argument("--as", dest="actor", default=os.environ.get("USER", "cli"))
    discard.set_defaults(handler=cmd_bill_discard)
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
    register_records(actions)
    register_titres(actions)


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
    from regie_chaleur.db.database import connected
    from regie_chaleur.services.billing import bill_month

    try:
        month = parse_month(args.period)
    except ValueError as exc:
        raise RegieError(f"--period : {exc}") from exc
    with connected(settings) as (_db, conn):
        result = bill_month(conn, month, actor=args.actor, simulate_only=args.simulate, progress=_progress)
    print_run(result.run)
    if result.issued is not None:
        done = result.issued
        print(f"émises : {done.issued} facture(s)" + (f", de {done.first_number} à {done.last_number}"
                                                      if done.issued else ""))
    elif result.run.status == "simulated":
        print(f"brouillons à revoir ; émettre avec `regie-chaleur bill issue {result.run.run_id}`")
    return 0


def cmd_bill_issue(args: argparse.Namespace, settings: Settings) -> int:
    from billing import fr
    from billing.runs import run_summary
    from regie_chaleur.db.database import connected
    from regie_chaleur.services.billing import issue_confirmed

    with connected(settings) as (_db, conn):
        run = run_summary(conn, args.run_id)
        if run.status == "simulated" and not args.yes:
            print(f"tournée {run.run_id} — {fr.month(run.month)} : {run.invoices} facture(s) à émettre, total TTC "
                  f"{fr.eur(run.total_ttc)} ; {run.blocking} exception(s) bloquante(s) restent en revue.")
            try:
                answer = input("Émettre ces factures (numérotées, définitives) ? [o/N] ").strip().lower()
            except EOFError:  # nobody to answer (a script): no, unless --yes
                answer = ""
            if answer not in ("o", "oui", "y", "yes"):
                print("\nrien n'a été émis (--yes pour émettre sans question)")
                return 1
        done = issue_confirmed(conn, args.run_id, run.invoices, run.total_ttc, actor=args.actor, progress=_progress)
    if done.issued == 0:
        print(f"tournée {args.run_id} : rien à émettre (déjà émise)")
    else:
        print(f"tournée {args.run_id} : {done.issued} facture(s) émise(s), de {done.first_number} à {done.last_number}")
    return 0


def cmd_bill_discard(args: argparse.Namespace, settings: Settings) -> int:
    from billing.runs import discard_run
    from regie_chaleur.db.database import connected

    with connected(settings) as (_db, conn):
        discard_run(conn, args.run_id, actor=args.actor)
    print(f"tournée {args.run_id} abandonnée (brouillons et liste de revue effacés)")
    return 0


def cmd_bill_documents(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.db.database import connected
    from regie_chaleur.services.documents import generate_run_documents

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
        print_run(run_summary(conn, args.run_id))
    return 0


def cmd_bill_credit(args: argparse.Namespace, settings: Settings) -> int:
    from billing import fr
    from billing.money import dec
    from regie_chaleur.db.database import connected
    from regie_chaleur.services.billing import credit

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

    from billing.regie import save_issuer
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
    from billing.regie import save_vat_period
    from regie_chaleur.db.database import connected

    with connected(settings) as (_db, conn):
        r1, r2 = save_vat_period(conn, args.network, args.valid_from, args.valid_to, dec(args.share.replace(",", ".")),
                                 args.justification, actor=args.actor)
    print(f"{args.network} à partir du {fr.day(args.valid_from)} : R1 à {fr.percent(r1)}, R2 à {fr.percent(r2)}")
    return 0
