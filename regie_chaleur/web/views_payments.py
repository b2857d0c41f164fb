"""Billing staff pages for what is owed and paid: bank statements (camt.053) imported and matched when the
régie collects itself (facturation/encaissements), the queue of lines waiting for a person, a subscriber's
account, the aged balance."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from billing.bank import MATCH_LABELS, STATE_LABELS, assign_line, import_statement, unmatched_lines
from billing.correspondence import reminder_pdf, statement_pdf
from billing.correspondence import send_reminders as send_and_record
from billing.errors import BankError, NotFoundError, StateError
from billing.ledger import BUCKET_LABELS, account_entries, aged_balance, aged_totals
from billing.reminders import LEVEL_LABELS, overdue_invoices
from billing.reminders import summary as reminders_summary
from billing.retours import account_summary
from billing.sepa_returns import import_returns
from regie_chaleur.deps import DbDep
from regie_chaleur.web.authz import BillingDep
from regie_chaleur.web.csv_export import cell, csv_response
from regie_chaleur.web.render import page

router = APIRouter(prefix="/facturation", include_in_schema=False)


def payments_page(request: Request, db: Any, status_code: int = 200, **context: Any) -> HTMLResponse:
    with db.pool.connection() as conn:
        waiting = unmatched_lines(conn)
        statements = conn.execute(
            "SELECT s.name, s.imported_at, s.imported_by, s.lines, s.account, "
            "(SELECT count(*) FROM bank_lines l WHERE l.statement_id = s.id AND l.state = 'unmatched') "
            "FROM bank_statements s ORDER BY s.id DESC LIMIT 20").fetchall()
        recent = conn.execute(
            "SELECT l.booked_on, l.amount, l.debtor_name, l.state, l.matched_by, "
            "(SELECT string_agg(coalesce(i.number, 'avoir sur compte'), ', ') FROM payments p "
            " LEFT JOIN invoices i ON i.id = p.invoice_id WHERE p.line_id = l.id) "
            "FROM bank_lines l WHERE l.state <> 'unmatched' ORDER BY l.id DESC LIMIT 50").fetchall()
    context.setdefault("error", "")
    context.setdefault("returns_error", "")
    context.setdefault("assign_error", {})
    return page(request, "billing/payments.html", status_code=status_code, title="Encaissements", waiting=waiting,
                statements=statements, recent=recent, states=STATE_LABELS, how=MATCH_LABELS, **context)


@router.get("/encaissements", response_class=HTMLResponse)
def payments_home(request: Request, db: DbDep, principal: BillingDep) -> HTMLResponse:
    return payments_page(request, db)


@router.post("/encaissements/releve", response_class=HTMLResponse)
async def import_bank_statement(request: Request, db: DbDep, principal: BillingDep, fichier: UploadFile) -> Response:
    content = await fichier.read()
    name = fichier.filename or "releve.xml"
    if not content:
        return payments_page(request, db, status_code=422, error=f"{name} : fichier vide")
    try:
        with db.pool.connection() as conn:
            done = import_statement(conn, content, name, actor=principal.login)
    except BankError as exc:
        return payments_page(request, db, status_code=422, error=f"{name} : {exc}")
    return payments_page(request, db, done=done, done_name=name)


@router.post("/encaissements/retours", response_class=HTMLResponse)
async def import_sepa_returns(request: Request, db: DbDep, principal: BillingDep, fichier: UploadFile) -> Response:
    """The bank's direct-debit rejects (pain.002) or returns (camt.054)."""
    content = await fichier.read()
    name = fichier.filename or "retours.xml"
    if not content:
        return payments_page(request, db, status_code=422, returns_error=f"{name} : fichier vide")
    try:
        with db.pool.connection() as conn:
            done = import_returns(conn, content, name, actor=principal.login)
    except BankError as exc:
        return payments_page(request, db, status_code=422, returns_error=f"{name} : {exc}")
    return payments_page(request, db, returns_done=done, returns_name=name)


@router.post("/encaissements/lignes/{line_id}", response_class=HTMLResponse)
def assign(request: Request, db: DbDep, principal: BillingDep, line_id: int,
           facture: Annotated[str, Form(max_length=64)]) -> Response:
    try:
        with db.pool.connection() as conn:
            assign_line(conn, line_id, facture, actor=principal.login)
    except (NotFoundError, StateError) as exc:
        return payments_page(request, db, status_code=422, assign_error={"line": line_id, "message": str(exc),
                                                                          "value": facture})
    return RedirectResponse("/facturation/encaissements?ok=payment-assigned", status_code=303)


@router.get("/balance-agee", response_class=HTMLResponse)
def aged(request: Request, db: DbDep, principal: BillingDep) -> HTMLResponse:
    """What each subscriber still owes by how long ago it fell due, public and private debtors apart."""
    with db.pool.connection() as conn:
        rows = aged_balance(conn, date.today())
    return page(request, "billing/aged_balance.html", title="Balance âgée", rows=rows, totals=aged_totals(rows),
                buckets=BUCKET_LABELS, today=date.today())


@router.get("/abonnes/{subscriber_id}/compte", response_class=HTMLResponse)
def account(request: Request, db: DbDep, principal: BillingDep, subscriber_id: int) -> HTMLResponse:
    """A subscriber's account: invoices, credit notes, payments and write-offs with the running balance."""
    with db.pool.connection() as conn:
        found = conn.execute("SELECT code, name FROM subscribers WHERE id = %s", (subscriber_id,)).fetchone()
        if found is None:
            raise HTTPException(404, "abonné inconnu")
        entries = account_entries(conn, subscriber_id)
        summary = account_summary(conn, subscriber_id, date.today())
    return page(request, "billing/account.html", title=f"Compte de {found[1]}", code=found[0], name=found[1],
                subscriber_id=subscriber_id, entries=entries, summary=summary)


@router.get("/relances", response_class=HTMLResponse)
def reminders(request: Request, db: DbDep, principal: BillingDep) -> HTMLResponse:
    """Invoices past due: the reminder each one is due, interest and indemnity for professionals."""
    return _reminders_page(request, db)


def _reminders_page(request: Request, db: Any, status_code: int = 200, **context: Any) -> HTMLResponse:
    with db.pool.connection() as conn:
        rows = overdue_invoices(conn, date.today())
    context.setdefault("error", "")
    context.setdefault("sent", None)
    return page(request, "billing/reminders.html", status_code=status_code, title="Relances", rows=rows,
                total=reminders_summary(rows), levels=LEVEL_LABELS, mailer=request.app.state.mailer is not None,
                **context)


@router.post("/relances", response_class=HTMLResponse)
async def send_reminders(request: Request, db: DbDep, principal: BillingDep) -> Response:
    """Send the reminders due for the invoices ticked: e-mailed with their letter to subscribers with an
    address when an SMTP server is configured, to be printed and posted otherwise."""
    numbers = [str(v)[:64] for v in (await request.form()).getlist("facture")][:1000]
    if not numbers:
        return _reminders_page(request, db, status_code=422, error="cochez au moins une facture")
    try:
        with db.pool.connection() as conn:
            sent = send_and_record(conn, numbers, actor=principal.login, today=date.today(),
                                   mailer=request.app.state.mailer)
    except StateError as exc:
        return _reminders_page(request, db, status_code=422, error=str(exc))
    return _reminders_page(request, db, sent=sent)


@router.get("/relances/{number}/lettre.pdf")
def reminder_letter(db: DbDep, principal: BillingDep, number: str) -> Response:
    """The reminder letter of an overdue invoice (the one now due, else the last sent), to print."""
    try:
        with db.pool.connection() as conn:
            pdf, level = reminder_pdf(conn, number, date.today())
    except StateError as exc:
        raise HTTPException(404, str(exc)) from exc
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="relance-{level}-{number}.pdf"'})


@router.get("/abonnes/{subscriber_id}/releve.pdf")
def statement(db: DbDep, principal: BillingDep, subscriber_id: int) -> Response:
    """The subscriber's account statement (relevé de compte) as PDF."""
    try:
        with db.pool.connection() as conn:
            pdf = statement_pdf(conn, subscriber_id, date.today())
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from exc
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="releve-de-compte-{subscriber_id}.pdf"'})


@router.get("/relances/comptable.csv")
def for_the_accountant(db: DbDep, principal: BillingDep) -> Response:
    """The invoices past the last reminder, for the public accountant's enforcement."""
    with db.pool.connection() as conn:
        rows = [r for r in overdue_invoices(conn, date.today()) if r.level_sent >= 2 and (
            r.next_level == 3 or r.level_sent == 3)]
    return csv_response("a-transmettre-au-comptable.csv",
                        ["Facture", "Abonné", "Nom", "Échéance", "Jours de retard", "Reste dû (€)",
                         "Intérêts de retard (€)", "Indemnité forfaitaire (€)"],
                        [[r.number, r.subscriber, r.subscriber_name, cell(r.due_date), cell(r.days_late),
                          cell(r.due, 2), cell(r.interest, 2), cell(r.indemnity, 2)] for r in rows])
