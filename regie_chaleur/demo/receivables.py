"""The demonstration's receivables: every month's bill run handed to the public accountant as titres
(PES V2), and the accountant's answer as Hélios would send it (a PES Retour built here, the accountant's
side): every titre taken in charge a few days later but one of last month's, rejected for an incomplete
address; the invoices due by today paid on their due date (by the Trésor's direct debit for subscribers
with a mandate, by transfer for most of the others, a few left unpaid), a third of last month's paid early
by transfer; the rest still owed. And one subscriber who chose
monthly instalments this month, whose first instalment's debit was rejected by its bank.

Its documents are generated first (the titres carry them as pièces justificatives); done once per run.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from billing.camt import Return, build_pain002
from billing.instalments import create_plan, export_instalments
from billing.periods import add_months
from billing.pes.retour import Emargement, TitreStatus, build_pes_retour
from billing.retours import import_retour
from billing.sepa_returns import import_returns
from billing.titres import emit_titres
from regie_chaleur.db.database import Database
from regie_chaleur.demo.setup import ACTOR, Progress
from regie_chaleur.services.documents import generate_run_documents

REJECTED_REASON = "Adresse du redevable incomplète : numéro de voie manquant"


def hand_over_runs(db: Database, today: date, progress: Progress) -> None:
    """Every issued run's titres, oldest first, each with the accountant's answer; once per run. The
    latest run's titres carry their invoices' PDFs (generated here); the earlier ones' are sent apart."""
    with db.pool.connection() as conn:
        runs = conn.execute(
            """SELECT r.id, r.run_date, r.month = (SELECT max(month) FROM bill_runs WHERE status = 'issued')
               FROM bill_runs r WHERE r.status = 'issued' AND NOT EXISTS (
                   SELECT 1 FROM titres t JOIN invoices i ON i.id = t.invoice_id WHERE i.run_id = r.id)
               ORDER BY r.month""").fetchall()
        if not runs:
            return
        conn.execute("ANALYZE invoices, invoice_vat, titres")  # a year of runs was just written at once
        sent_titres = paid = rejected = 0
        for run_id, run_day, latest in runs:
            if latest:
                made = generate_run_documents(conn, int(run_id), workers=1)
                progress.step(f"documents of the last bill run generated for its titres: {made}")
            sent = emit_titres(conn, actor=ACTOR, on=run_day, run_id=int(run_id), attach_pdfs=bool(latest))
            done = _answer(conn, sent.file_id, sent.name, run_day, today, latest=bool(latest))
            sent_titres, paid, rejected = sent_titres + sent.titres, paid + done.emargements, rejected + len(
                done.rejected)
        if conn.execute("SELECT 1 FROM invoices i WHERE status = 'issued' AND NOT EXISTS "
                        "(SELECT 1 FROM titres t WHERE t.invoice_id = i.id) LIMIT 1").fetchone():
            sent = emit_titres(conn, actor=ACTOR, on=today, attach_pdfs=False)  # credit notes issued apart
            _answer(conn, sent.file_id, sent.name, today, today, latest=False)
            sent_titres += sent.titres
        progress.step(f"titres of {len(runs)} bill run(s): {sent_titres}, valid against the PES V2 schema; the "
                      f"public accountant took them in charge but {rejected}, {paid} payments recorded")


def _answer(conn: psycopg.Connection, file_id: int, name: str, run_day: date, today: date, *, latest: bool) -> Any:
    """The accountant's PES Retour for one file: every titre taken in charge (the latest run's 8th rejected
    for its address); the invoices due by today paid on their due date (by the Trésor's direct debit with a
    mandate, by transfer for most others, one in forty left unpaid in earlier runs), a third of the latest
    run's paid early by transfer."""
    rows = conn.execute(
        """SELECT t.exercice, b.number, b.kind, t.number, i.total_ttc, i.due_date, c.payment_method
           FROM titres t JOIN pes_bordereaux b ON b.id = t.bordereau_id JOIN invoices i ON i.id = t.invoice_id
           JOIN contracts c ON c.id = i.contract_id WHERE b.file_id = %s ORDER BY t.number""",
        (file_id,)).fetchall()
    issuer = conn.execute("SELECT i.siret, p.cod_col, p.cod_bud, p.id_post FROM billing_issuer i, pes_settings p"
                          ).fetchone()
    assert issuer is not None  # noqa: S101
    taken_on = min(run_day + timedelta(days=5), today)
    statuses, amounts = [], {}
    for k, (exercice, bordereau, kind, number, total, due_date, method) in enumerate(rows):
        amounts[(exercice, number)] = Decimal(total)
        if latest and k == 7:
            statuses.append(TitreStatus(exercice, bordereau, kind, number, "rejected", REJECTED_REASON, taken_on))
            continue
        paid: tuple[Emargement, ...] = ()
        late = number % 40 == 11 if not latest else not (method == "sepa" or k % 5)
        if kind == "01" and due_date <= today and not late:
            paid = (Emargement("03" if method == "sepa" else "02", due_date, Decimal(total)),)
        elif kind == "01" and latest and k % 3 == 0:  # some pay by transfer before their due date (or its debit)
            paid = (Emargement("02", min(run_day + timedelta(days=10), today), Decimal(total)),)
        statuses.append(TitreStatus(exercice, bordereau, kind, number, "taken", None, taken_on, paid))
    answer = build_pes_retour(issuer[0], issuer[1], issuer[2], issuer[3], statuses, amounts, f"PES_RETOUR_{name}",
                              taken_on)
    return import_retour(conn, answer, f"PES_RETOUR_{name}.xml", actor="helios (démonstration)")


def put_one_subscriber_on_instalments(db: Database, today: date, progress: Progress) -> None:
    """One subscriber paying by monthly instalments from this month (its choice recorded with its
    mandate), the first instalment collected by the régie's pain.008, and its debit rejected by the
    subscriber's bank (pain.002, AM04: insufficient funds): done once."""
    with db.pool.connection() as conn:
        if conn.execute("SELECT 1 FROM instalment_plans LIMIT 1").fetchone():
            return
        chosen = conn.execute(
            """SELECT s.code FROM subscribers s JOIN sepa_mandates m ON m.subscriber_id = s.id AND m.status = 'active'
               WHERE EXISTS (SELECT 1 FROM invoices i WHERE i.subscriber_id = s.id AND i.status = 'issued'
                             AND i.period_start >= %s)
               ORDER BY s.code LIMIT 1""", (add_months(today.replace(day=1), -12),)).fetchone()
        if chosen is None:
            return
        plan_id = create_plan(conn, chosen[0], period_start=today.replace(day=1), months=12, debit_day=1,
                              actor=ACTOR, today=today)
        _, count, total = export_instalments(conn, today, actor=ACTOR, today=today)
        first = conn.execute("SELECT amount FROM instalments WHERE plan_id = %s AND seq = 1", (plan_id,)).fetchone()
        assert first is not None  # noqa: S101
        message = conn.execute("SELECT message_id FROM instalment_exports WHERE collection_date = %s",
                               (today,)).fetchone()
        assert message is not None  # noqa: S101
        reject = build_pain002(message[0], [Return(f"ECH-{plan_id}-1", "AM04", Decimal(first[0]), today)],
                               f"REJ-{today:%Y%m%d}", datetime.combine(today, time(8), tzinfo=UTC))
        done = import_returns(conn, reject, f"pain002-{today:%Y%m%d}.xml", actor="banque (démonstration)",
                              today=today)
        progress.step(f"{chosen[0]} pays by monthly instalments: {count} instalment(s) of {total} € collected, "
                      f"{done.recorded} debit returned by its bank (AM04)")
