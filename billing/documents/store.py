"""Documents of issued invoices and credit notes: generated once, stored, served ever after.

Each gets its Factur-X PDF (the PDF/A-3 a subscriber reads, with the CII XML embedded) and the XML on
its own, stored in ``invoice_documents`` with their SHA-256 (append-only: a document is never
regenerated; serving checks the hash). Generation spreads over worker processes when asked (rendering
and embedding are CPU-bound); the database work stays in the calling process.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

from billing.documents.cii import build_cii
from billing.documents.content import DocumentContent, Extras, read_content
from billing.documents.facturx import embed
from billing.documents.pdf import render_pdf
from billing.errors import BillingError, NotFoundError

ExtrasProvider = Callable[[DocumentContent], Extras]
Progress = Callable[[int, int], None]
MIME = {"facturx_pdf": "application/pdf", "cii_xml": "application/xml"}
CHUNK = 50


class DocumentAlteredError(BillingError):
    """A stored document no longer matches its recorded hash."""


@dataclass(frozen=True)
class StoredDocument:
    content: bytes
    filename: str
    mime: str
    sha256: str


def produce(content: DocumentContent) -> tuple[bytes, bytes]:
    """(Factur-X PDF, CII XML) of one invoice (pure computation; runs in worker processes)."""
    xml = build_cii(content)
    inv = content.invoice
    title = f"{'Avoir' if content.is_credit_note else 'Facture'} {inv['number']}"
    metadata = {"title": title, "author": inv["seller"]["name"], "subject": f"{title} – {inv['buyer']['name']}",
                "keywords": "facture, Factur-X, réseau de chaleur"}
    return embed(render_pdf(content), xml, metadata), xml


def generate_documents(conn: psycopg.Connection, invoice_ids: Sequence[int], extras: ExtrasProvider | None = None,
                       *, workers: int = 1, progress: Progress | None = None,
                       stop: threading.Event | None = None) -> int:
    """Generate and store the documents of the given issued invoices that have none yet; returns how many.
    ``stop``: set, the generation ends after the chunk in hand (what is generated is stored).

    With worker processes the work is pipelined: while they render a chunk, this process reads the next
    one from the database and stores the previous one.
    """
    done = {r[0] for r in conn.execute("SELECT invoice_id FROM invoice_documents WHERE kind = 'facturx_pdf' "
                                       "AND invoice_id = ANY(%s)", (list(invoice_ids),))}
    todo = [i for i in invoice_ids if i not in done]
    made = 0
    pending: tuple[list[DocumentContent], list[Future[tuple[bytes, bytes]]] | list[tuple[bytes, bytes]]] | None = None
    with _executor(workers) as pool:
        for start in range(0, len(todo), CHUNK):
            if stop is not None and stop.is_set():
                break
            contents = [_content(conn, invoice_id, extras) for invoice_id in todo[start:start + CHUNK]]
            work = [pool.submit(produce, c) for c in contents] if pool else [produce(c) for c in contents]
            if pending is not None:
                made += _store(conn, *pending)
                if progress is not None:
                    progress(made, len(todo))
            pending = (contents, work)
        if pending is not None:
            made += _store(conn, *pending)
            if progress is not None:
                progress(made, len(todo))
    return made


def _content(conn: psycopg.Connection, invoice_id: int, extras: ExtrasProvider | None) -> DocumentContent:
    content = read_content(conn, invoice_id)
    if extras is not None:
        content.extras = extras(content)
    return content


def _store(conn: psycopg.Connection, contents: list[DocumentContent],
           work: list[Future[tuple[bytes, bytes]]] | list[tuple[bytes, bytes]]) -> int:
    results = [w.result() if isinstance(w, Future) else w for w in work]
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO invoice_documents (invoice_id, kind, content, sha256) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            [(c.invoice["id"], kind, data, hashlib.sha256(data).hexdigest())
             for c, (pdf, xml) in zip(contents, results, strict=True)
             for kind, data in (("facturx_pdf", pdf), ("cii_xml", xml))])
    return len(contents)


@contextmanager
def _executor(workers: int) -> Iterator[Executor | None]:
    if workers <= 1:
        yield None
        return
    # spawned, not forked: a process that has used the Typst compiler holds its Rust thread pool, which a
    # forked child would inherit without its threads (and wait for forever)
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


def read_document(conn: psycopg.Connection, number: str, kind: str = "facturx_pdf",
                  subscriber_id: int | None = None) -> StoredDocument:
    """A stored document by invoice number (``subscriber_id``: only that subscriber's).

    Raises:
        NotFoundError: unknown invoice, someone else's, or no document yet.
        DocumentAlteredError: the bytes no longer match the recorded hash.
    """
    row = conn.execute(
        """SELECT d.content, d.sha256 FROM invoice_documents d JOIN invoices i ON i.id = d.invoice_id
           WHERE i.number = %s AND d.kind = %s AND (%s::bigint IS NULL OR i.subscriber_id = %s)""",
        (number, kind, subscriber_id, subscriber_id)).fetchone()
    if row is None:
        raise NotFoundError(f"aucun document pour {number}")
    content = bytes(row[0])
    if hashlib.sha256(content).hexdigest() != row[1].strip():
        raise DocumentAlteredError(f"le document de {number} ne correspond plus à son empreinte enregistrée")
    extension = "pdf" if kind == "facturx_pdf" else "xml"
    return StoredDocument(content, f"{number}.{extension}", MIME[kind], row[1].strip())
