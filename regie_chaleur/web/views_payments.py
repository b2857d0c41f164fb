"""Billing staff pages for the payments the régie receives itself (facturation/encaissements): bank
statements (camt.053) imported and matched, the queue of lines waiting for a person, assigned by hand."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from billing.bank import MATCH_LABELS, STATE_LABELS, assign_line, import_statement, unmatched_lines
from billing.errors import BankError, NotFoundError, StateError
from regie_chaleur.deps import DbDep
from regie_chaleur.web.authz import BillingDep
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
