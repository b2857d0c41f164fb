"""bench/receivables: a bank statement of 10,000 lines matched against 10,000 open invoices, and the PES V2
Aller file of a 10,000-invoice run built and validated.

Setup (not timed): bench/billing's network and contracts, September and October billed and issued
(measured right after, before autovacuum has analysed the 20,000 invoices just written).

Timed:
- the PES V2 file of October's run: titres numbered, the file built, validated against the DGFiP's
  schemas and stored, in a transaction rolled back afterwards (the invoices' PDFs left out: at ~90 kB
  each, 10,000 of them make a file no tiers de transmission takes; they are timed by bench/documents);
- a camt.053 statement of one line per invoice imported and matched: 70 % quote the RF reference
  (structured), 10 % the invoice number in free text, 8 % nothing but the amount and the payer's name,
  5 % pay part, 4 % pay more, 3 % are unknown payers.

Also written: the PES file of the run's first 20 invoices with their PDFs, bench/results/pes-sample.xml.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import RESULTS_DIR, record, scratch_database, table
from bench.billing import ACTOR, setup
from billing.bank import import_statement
from billing.camt import Entry, build_statement
from billing.identifiers import creditor_reference
from billing.pes.schema import schema_errors
from billing.titres import emit_titres, read_file, save_settings
from regie_chaleur.demo.billing import DEMO_HELIOS
from regie_chaleur.services.billing import bill_month
from regie_chaleur.services.documents import generate_for

ACCOUNT = "FR7630001007941234567890185"


def bill(url: str, month: date, run_date: date) -> int:
    """The month billed and issued, without documents (the sample's are generated on their own)."""
    with psycopg.connect(url, autocommit=True) as conn:
        result = bill_month(conn, month, actor=ACTOR, simulate_only=False, run_date=run_date, documents=False)
        return result.run.run_id


def statement(conn: psycopg.Connection) -> tuple[bytes, int]:
    """One line per open invoice of October, as the bank would report them, and how many there are."""
    rows = conn.execute("SELECT i.number, i.total_ttc, s.name FROM invoices i JOIN subscribers s "
                        "ON s.id = i.subscriber_id WHERE i.status = 'issued' AND i.kind = 'invoice' "
                        "AND i.period_start = '2026-10-01' ORDER BY i.number").fetchall()
    entries = []
    for n, (number, total, name) in enumerate(rows):
        k = n % 100
        day = date(2026, 12, 1 + n % 20)
        if k < 70:
            entries.append(Entry(total, day, name.upper(), reference=creditor_reference(number)))
        elif k < 80:
            entries.append(Entry(total, day, name.upper(), text=f"REGLEMENT {number} CHAUFFAGE"))
        elif k < 88:
            entries.append(Entry(total, day, name.upper(), text="CHAUFFAGE URBAIN"))
        elif k < 93:
            entries.append(Entry((total / 2).quantize(Decimal("0.01")), day, name.upper(),
                                 reference=creditor_reference(number)))
        elif k < 97:
            entries.append(Entry(total + Decimal("25.00"), day, name.upper(), reference=creditor_reference(number)))
        else:
            entries.append(Entry(Decimal("123.45"), day, f"PAYEUR INCONNU {n}", text="VIREMENT"))
    return build_statement(ACCOUNT, entries, "BENCH-2026-12", datetime(2026, 12, 21, 6, tzinfo=UTC)), len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contracts", type=int, default=10_000)
    args = parser.parse_args()
    with scratch_database("bench_receivables") as url:
        started = time.perf_counter()
        setup(url, args.contracts)
        bill(url, date(2026, 9, 1), date(2026, 10, 3))
        run_id = bill(url, date(2026, 10, 1), date(2026, 11, 16))
        with psycopg.connect(url, autocommit=True) as conn:
            save_settings(conn, DEMO_HELIOS, actor=ACTOR)
        print(f"  setup {time.perf_counter() - started:.0f} s", flush=True)

        with psycopg.connect(url) as conn:  # the whole run's file, rolled back afterwards
            with conn.transaction(force_rollback=True):
                started = time.perf_counter()
                emitted = emit_titres(conn, actor=ACTOR, on=date(2026, 11, 17), run_id=run_id, attach_pdfs=False)
                pes_build_s = time.perf_counter() - started
                _, content, _ = read_file(conn, emitted.file_id)
            pes_valid = not schema_errors(content)
            pes_mb = len(content) / 1e6
        print(f"  PES file: {emitted.titres} titres in {pes_build_s:.1f} s, {pes_mb:.1f} MB, valid: {pes_valid}",
              flush=True)

        with psycopg.connect(url, autocommit=True) as conn:
            first = [r[0] for r in conn.execute(
                "SELECT number FROM invoices WHERE run_id = %s ORDER BY number LIMIT 20", (run_id,))]
            generate_for(conn, first)
            sample = emit_titres(conn, actor=ACTOR, on=date(2026, 11, 17), run_id=run_id, limit=20)
            _, sample_content, _ = read_file(conn, sample.file_id)
            (RESULTS_DIR / "pes-sample.xml").write_bytes(sample_content)
            sample_valid = not schema_errors(sample_content)

            content, lines = statement(conn)
            open_invoices = conn.execute(
                "SELECT count(*) FROM invoices WHERE status = 'issued' AND kind = 'invoice' "
                "AND period_start = '2026-10-01'").fetchone()[0]
            started = time.perf_counter()
            done = import_statement(conn, content, "releve-decembre.xml", actor=ACTOR)
            match_s = time.perf_counter() - started
        matched = done.matched + done.partial + done.overpaid
        print(f"  statement: {done.lines} lines in {match_s:.1f} s, {matched} matched, {done.unmatched} unmatched",
              flush=True)

    body = table(["what", "count", "seconds", "result"], [
        ["bank statement (camt.053) imported and matched", f"{lines} lines / {open_invoices} open invoices",
         f"{match_s:.2f}", f"{matched} matched ({done.matched} exact, {done.partial} partial, {done.overpaid} "
                           f"overpaid), {done.unmatched} queued"],
        ["PES V2 Aller file of a run built, validated and stored", f"{emitted.titres} titres",
         f"{pes_build_s:.2f}", f"{'valid' if pes_valid else 'INVALID'} ({pes_mb:.1f} MB, no PDFs)"],
        ["PES V2 sample with the invoices' PDFs", f"{sample.titres} titres", "", (
            "valid" if sample_valid else "INVALID") + f" ({len(sample_content) / 1e6:.1f} MB)"]])
    body += ("\n\nSetup as bench/billing (10,000 contracts, September and October issued). The statement quotes "
             "the RF reference on 70 % of its lines, the invoice number in free text on 10 %, only the amount and "
             "payer on 8 %; 5 % pay half, 4 % pay 25 € more (kept as a credit on the account), 3 % come from "
             "unknown payers (queued for a person). The PES file is built in a transaction rolled back afterwards "
             "(numbers given back); its PDFs are left out (see bench/documents for their generation); "
             "bench/results/pes-sample.xml is the file of the run's first 20 invoices with their PDFs. Targets: "
             "matching under 10 s, the PES file under 30 s.")
    record("receivables", "Receivables: a statement matched, a run's PES V2 file", body,
           {"statement_lines": lines, "open_invoices": open_invoices, "match_s": round(match_s, 2),
            "matched": matched, "unmatched": done.unmatched, "pes_invoices": emitted.titres,
            "pes_build_s": round(pes_build_s, 2), "pes_valid": pes_valid})


if __name__ == "__main__":
    main()
