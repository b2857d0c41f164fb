"""The demonstration's receivables: last month's bill run handed to the public accountant as titres
(PES V2), and the accountant's answer as Hélios would send it (a PES Retour built here, the accountant's
side): every titre taken in charge a few days later but one, rejected for an incomplete address; the
invoices due by today paid (by the Trésor's direct debit for subscribers with a mandate, by transfer for
most of the others), a third paid early by transfer; the rest still owed. And one subscriber who chose
monthly instalments this month, whose first instalment's debit was rejected by its bank.

Its documents are generated first (the titres carry them as pièces justificatives); done once per run.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

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


def hand_over_last_run(db: Database, today: date, progress: Progress) -> None:
    """Titres of the latest issued run, and the accountant's answer (once)."""
    with db.pool.connection() as conn:
        row = conn.execute("SELECT id, run_date FROM bill_runs WHERE status = 'issued' ORDER BY month DESC LIMIT 1"
                           ).fetchone()
        if row is None or conn.execute("SELECT 1 FROM titres t JOIN invoices i ON i.id = t.invoice_id "
                                       "WHERE i.run_id = %s LIMIT 1", (row[0],)).fetchone():
            return
        run_id, run_day = int(row[0]), row[1]
        conn.execute("ANALYZE invoices, invoice_vat, titres")  # a year of runs was just written at once
        made = generate_run_documents(conn, run_id, workers=1)
        sent = emit_titres(conn, actor=ACTOR, on=run_day, run_id=run_id)
        progress.step(f"titres of the last bill run: {sent.titres} in {sent.name} ({made} documents generated "
                      "for them), valid against the PES V2 schema")
        rows = conn.execute(
            """SELECT t.exercice, b.number, b.kind, t.number, i.total_ttc, i.due_date, c.payment_method
               FROM titres t JOIN pes_bordereaux b ON b.id = t.bordereau_id JOIN invoices i ON i.id = t.invoice_id
               JOIN contracts c ON c.id = i.contract_id WHERE b.file_id = %s ORDER BY t.number""",
            (sent.file_id,)).fetchall()
        issuer = conn.execute("SELECT i.siret, p.cod_col, p.cod_bud, p.id_post FROM billing_issuer i, pes_settings p"
                              ).fetchone()
        assert issuer is not None  # noqa: S101
        taken_on = min(run_day + timedelta(days=5), today)
        statuses, amounts = [], {}
        for k, (exercice, bordereau, kind, number, total, due_date, method) in enumerate(rows):
            amounts[(exercice, number)] = Decimal(total)
            if k == 7:
                statuses.append(TitreStatus(exercice, bordereau, kind, number, "rejected", REJECTED_REASON, taken_on))
                continue
            paid: tuple[Emargement, ...] = ()
            if kind == "01" and due_date <= today and (method == "sepa" or k % 5):
                paid = (Emargement("03" if method == "sepa" else "02", due_date, Decimal(total)),)
            elif kind == "01" and k % 3 == 0:  # some pay by transfer before their due date (or its debit)
                paid = (Emargement("02", min(run_day + timedelta(days=10), today), Decimal(total)),)
            statuses.append(TitreStatus(exercice, bordereau, kind, number, "taken", None, taken_on, paid))
        answer = build_pes_retour(issuer[0], issuer[1], issuer[2], issuer[3], statuses, amounts,
                                  f"PES_RETOUR_{sent.name}", taken_on)
        done = import_retour(conn, answer, f"PES_RETOUR_{sent.name}.xml", actor="helios (démonstration)")
        progress.step(f"the public accountant's answer: {done.titres} titres, {len(done.rejected)} rejected, "
                      f"{done.emargements} payments recorded")


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
