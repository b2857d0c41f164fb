"""bench/billing: a monthly bill run of 10,000 contracts, simulated then issued, as in production.

Setup (not timed): a network of N delivery points with meters, subscribers in every tariff category,
contracts (monthly, some paying by SEPA), indexation formulas with published index values, a social
reduction, the network's VAT period, two telemetry samples per meter around each month boundary, and
September billed first so that October has previous invoices to chain from. A few meters miss their
1 November sample on purpose (estimated from their history), and a few go backwards (exceptions).

Timed, in a separate process (its peak memory is the run's): the October run through the
application's path (boundary readings read from telemetry, simulate) then the issue.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from schwifty import IBAN
from stdnum import luhn

from bench._common import record, scratch_database, table
from billing.periods import boundary
from regie_chaleur.db.database import open_database
from regie_chaleur.demo.billing import load_demo_billing
from regie_chaleur.settings import Settings

CATEGORIES = ("logement_social", "copropriete", "equipement_public", "tertiaire")
ACTOR = "bench"


def siren(n: int) -> str:
    return f"{n:08d}" + luhn.calc_check_digit(f"{n:08d}")


def siret(siren_: str) -> str:
    return f"{siren_}0001" + luhn.calc_check_digit(f"{siren_}0001")


def setup(url: str, count: int) -> None:
    db = open_database(Settings(mode="development", database_url=url, pool_min_size=0), apply_migrations=True)
    with db.pool.connection() as conn:
        conn.execute("INSERT INTO networks (code, name) VALUES ('centre', 'Réseau centre-ville')")
        with conn.cursor() as cur:
            cur.execute("""INSERT INTO substations (code, name, network)
                           SELECT 'SST-' || lpad(i::text, 5, '0'), 'Sous-station ' || i, 'centre'
                           FROM generate_series(1, %s) i""", (count,))
            cur.execute("""INSERT INTO devices (code, substation_id, host, port, unit_id, profile)
                           SELECT 'DEV-' || substr(s.code, 5), s.id, '10.' || (s.id / 62500) || '.' ||
                                  (s.id / 250 % 250) || '.' || (s.id % 250 + 1), 502, 1, 'kamstrup-multical-603'
                           FROM substations s""")
            cur.execute("""INSERT INTO meters (code, device_id, substation_id, register_capacity_kwh)
                           SELECT 'MTR-' || substr(d.code, 5), d.id, d.substation_id, 100000000 FROM devices d""")
            cur.execute("""INSERT INTO delivery_points (code, name, substation_id, meter_id, address)
                           SELECT 'PDL-' || substr(m.code, 5), 'Point ' || substr(m.code, 5), m.substation_id, m.id,
                                  substr(m.code, 5)::int || ' avenue Georges-Gosnat, 94200 Ivry-sur-Seine'
                           FROM meters m""")
            subscribers = [(f"ABO-{i:05d}", f"Abonné {i}", siren(60_000_000 + i), siret(siren(60_000_000 + i)),
                            f"{i} rue Marat", "94200", "Ivry-sur-Seine", i % 4 == 2) for i in range(1, count + 1)]
            iban = str(IBAN.generate("FR", bank_code="30004", account_code="00000000001").compact)
            with cur.copy("COPY subscribers (code, name, siren, siret, address_line1, postcode, city, "
                          "public_entity) FROM STDIN") as copy:
                for row in subscribers:
                    copy.write_row(row)
            cur.execute("""INSERT INTO sepa_mandates (subscriber_id, reference, signed_on, iban, bic)
                           SELECT id, 'RUM-' || code, '2024-06-01', %s, 'AGRIFRPP' FROM subscribers
                           WHERE id %% 3 = 0""", (iban,))
            cur.execute("""INSERT INTO contracts (number, subscriber_id, delivery_point_id, category, start_date,
                               payment_method, mandate_id)
                           SELECT 'POL-' || substr(s.code, 5), s.id, dp.id, (ARRAY[%s, %s, %s, %s])[s.id %% 4 + 1],
                                  '2025-01-01', CASE WHEN m.id IS NULL THEN 'transfer' ELSE 'sepa' END, m.id
                           FROM subscribers s JOIN delivery_points dp ON substr(dp.code, 5) = substr(s.code, 5)
                           LEFT JOIN sepa_mandates m ON m.subscriber_id = s.id""", CATEGORIES)
            cur.execute("""INSERT INTO contract_powers (contract_id, valid_from, power_kw)
                           SELECT id, '2025-01-01', 60 + (id * 37) % 900 FROM contracts""")
        load_demo_billing(conn, date(2026, 11, 16), actor=ACTOR)
        write_samples(conn, count)
    db.close()


def write_samples(conn: psycopg.Connection, count: int) -> None:
    """Two energy samples per meter around 1 September, 1 October and 1 November (Paris midnight)."""
    ids = [r[0] for r in conn.execute("SELECT id FROM devices ORDER BY id")]
    copy_sql = "COPY substation_samples (time, device_id, energy, energy_q) FROM STDIN"
    with conn.cursor() as cur, cur.copy(copy_sql) as copy:
        for k, day in enumerate((date(2026, 9, 1), date(2026, 10, 1), date(2026, 11, 1))):
            at = boundary(day)
            for i, device in enumerate(ids):
                if k == 2 and i % 500 == 7:
                    continue  # no 1 November sample: estimated from its history
                energy = 1_000_000.0 + 40_000.0 * k + (i * 13) % 9000 * k
                if k == 2 and i % 1000 == 11:
                    energy = 900_000.0  # the register went backwards: an exception for review
                for offset, step in ((timedelta(minutes=-1), 0.0), (timedelta(minutes=1), 5.0)):
                    copy.write_row((at + offset, device, energy + step, 0))


def bill_september(url: str) -> None:
    from regie_chaleur.services.billing import bill_month

    with psycopg.connect(url, autocommit=True) as conn:
        result = bill_month(conn, date(2026, 9, 1), actor=ACTOR, simulate_only=False, run_date=date(2026, 10, 3),
                            documents=False)  # September's documents play no part in October's run
        print(f"  September: {result.run.invoices} invoices, {result.run.blocking} blocking exceptions", flush=True)


def measure(url: str) -> dict[str, float]:
    """The timed part, in its own process: October simulated (readings from telemetry) then issued."""
    from billing.issuing import issue_run
    from regie_chaleur.services.billing import bill_month

    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        result = bill_month(conn, date(2026, 10, 1), actor=ACTOR, simulate_only=True, run_date=date(2026, 11, 16))
        simulated = time.perf_counter()
        done = issue_run(conn, result.run.run_id, actor=ACTOR, now=datetime(2026, 11, 16, 9, tzinfo=UTC))
        issued = time.perf_counter()
    return {"contracts": result.run.contracts, "invoices": done.issued, "simulate_s": simulated - started,
            "issue_s": issued - simulated, "exceptions": result.run.blocking,
            "warnings": len(result.run.exceptions) - result.run.blocking,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contracts", type=int, default=10_000)
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # internal: the timed child process
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    with scratch_database("bench_billing") as url:
        started = time.perf_counter()
        setup(url, args.contracts)
        bill_september(url)
        print(f"  setup {time.perf_counter() - started:.0f} s", flush=True)
        child = subprocess.run([sys.executable, __file__, "--measure", url], capture_output=True, text=True,
                               check=True)
        m = json.loads(child.stdout.strip().splitlines()[-1])
        with psycopg.connect(url) as conn:
            check = conn.execute(
                """SELECT count(*), sum(total_ttc),
                          bool_and(total_ht = (SELECT sum(amount_ht) FROM invoice_lines l WHERE l.invoice_id = i.id)),
                          (SELECT total_ttc FROM bill_runs r WHERE r.month = '2026-10-01' AND r.status = 'issued')
                   FROM invoices i WHERE status = 'issued' AND period_start >= '2026-10-01'""").fetchone()
    assert check is not None
    total = m["simulate_s"] + m["issue_s"]
    per_s = m["invoices"] / total
    body = table(["contracts", "invoices", "simulate s", "issue s", "total s", "invoices/s", "peak RSS MB",
                  "blocking exceptions", "warnings", "lines reconcile", "run total = Σ invoices"],
                 [[m["contracts"], m["invoices"], f"{m['simulate_s']:.1f}", f"{m['issue_s']:.1f}", f"{total:.1f}",
                   f"{per_s:.0f}", f"{m['peak_rss_mb']:.0f}", m["exceptions"], m["warnings"],
                   "yes" if check[2] else "NO", "yes" if check[1] == check[3] else "NO"]])
    body += ("\n\nOne monthly run (October 2026) through the application's path: boundary readings read from "
             "telemetry (two samples per meter around each boundary), drafts computed and written with COPY "
             "(simulate), then numbered in chunks of 1,000 in gapless series with their months marked billed, "
             "index values and tariffs locked and the audit trail written (issue). Every contract is indexed (the "
             "demonstration's formulas: R1 on gas and electricity indices, R21-R23 on electricity, labour-cost and "
             "works indices), a quarter are social housing with an 8 % R2 reduction, "
             "0.2 % have no 1 November reading (estimated from their history) and 0.1 % a register going "
             "backwards (blocking exceptions, on purpose). Peak RSS is the measuring process's. Target: under 30 s.")
    record("billing", "Billing: a monthly run of 10,000 contracts", body,
           {"contracts": m["contracts"], "simulate_s": round(m["simulate_s"], 2), "issue_s": round(m["issue_s"], 2),
            "invoices_per_s": round(per_s, 1), "peak_rss_mb": round(m["peak_rss_mb"], 1),
            "exceptions": m["exceptions"]})


if __name__ == "__main__":
    main()
