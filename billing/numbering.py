"""Gapless document numbers: ``FAC-2026-000123`` for invoices, ``AVO-2026-000007`` for credit notes.

A PostgreSQL sequence leaves gaps (a rolled-back transaction keeps its value). The number comes instead
from a counter row per series (document type and year), updated in the transaction that issues the
documents: the row lock makes concurrent issuers wait for each other, and a rollback gives the numbers
back with everything else. The series are separate (invoices, credit notes), as CGI art. 242 nonies A
allows when justified, each chronological and continuous.
"""

from __future__ import annotations

import psycopg

PREFIXES = {"invoice": "FAC", "credit_note": "AVO"}


def take_numbers(cur: psycopg.Cursor, kind: str, year: int, count: int) -> list[str]:
    """Reserve the next ``count`` numbers of the series of ``kind`` and ``year``, in this transaction."""
    if count <= 0:
        return []
    series = f"{PREFIXES[kind]}-{year}"
    cur.execute("INSERT INTO invoice_counters (series) VALUES (%s) ON CONFLICT (series) DO NOTHING", (series,))
    row = cur.execute("UPDATE invoice_counters SET next_value = next_value + %s WHERE series = %s "
                      "RETURNING next_value - %s", (count, series, count)).fetchone()
    assert row is not None  # noqa: S101  (the row was just ensured)
    first = int(row[0])
    return [f"{series}-{n:06d}" for n in range(first, first + count)]
