"""Paying an invoice online through the DGFiP's PayFiP, from the subscriber portal, when the régie set
its PayFiP client number (Facturation › Titres). The subscriber starts the payment of what an invoice
still owes (``/espace/factures/{number}/payer``), pays on the DGFiP's page and comes back to
``/espace/paiement``; PayFiP also notifies ``/paiement/payfip/notification`` (public: it is the DGFiP's
server that calls). The result is always asked of PayFiP itself, never taken from a request."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import psycopg
from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from billing.errors import PayfipError
from billing.payfip import RESULTS, create_payment, payment_page, payment_result, read_payfip
from billing.retours import dues
from regie_chaleur.deps import DbDep
from regie_chaleur.web.authz import PortalDep, subscriber_scope
from regie_chaleur.web.render import page

router = APIRouter(prefix="/espace", include_in_schema=False)
public = APIRouter(include_in_schema=False)
IDOP = Annotated[str, Form(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]


@router.post("/factures/{number}/payer")
def pay(request: Request, db: DbDep, principal: PortalDep, number: str) -> Response:
    """Start paying online what the subscriber's invoice still owes."""
    scope = subscriber_scope(principal)
    with db.pool.connection() as conn:
        settings = read_payfip(conn)
        found = conn.execute("SELECT i.id, i.issue_date, s.email FROM invoices i JOIN subscribers s "
                             "ON s.id = i.subscriber_id WHERE i.number = %s AND i.subscriber_id = %s "
                             "AND i.kind = 'invoice' AND i.status = 'issued'", (number, scope)).fetchone()
        if found is None:
            raise HTTPException(404, "facture introuvable")
        if settings is None:
            raise HTTPException(404, "le paiement en ligne n'est pas proposé")
        due = dues(conn, [found[0]]).get(found[0])
        if due is None or due <= 0:
            return _result(request, 409, "Cette facture est déjà réglée : il n'y a rien à payer.")
        email = found[2] or ""
        if not email:
            return _result(request, 409, "Le paiement en ligne demande une adresse électronique : demandez au "
                                         "service facturation de l'enregistrer sur votre compte.")
        base = str(request.base_url).rstrip("/")
        try:
            idop = create_payment(settings, exercice=found[1].year, invoice_number=number, amount=due, email=email,
                                  label=f"Facture {number} chauffage urbain",
                                  notify_url=f"{base}/paiement/payfip/notification",
                                  return_url=f"{base}/espace/paiement")
        except PayfipError as exc:
            return _result(request, 502, f"Le paiement en ligne est indisponible pour le moment ({exc}). "
                                         "Réessayez plus tard ou réglez par virement.")
        conn.execute("INSERT INTO online_payments (idop, invoice_id, amount, email, created_by) "
                     "VALUES (%s, %s, %s, %s, %s)", (idop, found[0], due, email, principal.login))
    return RedirectResponse(payment_page(settings, idop), status_code=303)


@router.api_route("/paiement", methods=["GET", "POST"], response_class=HTMLResponse)
async def back_from_payfip(request: Request, db: DbDep, principal: PortalDep) -> HTMLResponse:
    """Where PayFiP sends the payer back (with ``idop``): the result, as PayFiP gives it."""
    form = await request.form() if request.method == "POST" else {}
    idop = str(request.query_params.get("idop") or form.get("idop") or "")[:64]
    scope = subscriber_scope(principal)
    with db.pool.connection() as conn:
        row = conn.execute("SELECT i.number FROM online_payments o JOIN invoices i ON i.id = o.invoice_id "
                           "WHERE o.idop = %s AND i.subscriber_id = %s", (idop, scope)).fetchone()
        if row is None:
            return _result(request, 404, "Paiement inconnu.")
        result = _check(conn, idop)
    if result in ("P", "V"):
        return _result(request, 200, f"Votre paiement de la facture {row[0]} est accepté. Il apparaîtra sur votre "
                                     "compte dès que le comptable public l'aura enregistré.")
    if result is None:
        return _result(request, 200, f"Le résultat du paiement de la facture {row[0]} n'est pas encore connu : "
                                     "consultez vos factures dans quelques minutes.")
    return _result(request, 200, f"Paiement de la facture {row[0]} {RESULTS[result]} : rien n'a été prélevé.")


@public.post("/paiement/payfip/notification")
def notified(db: DbDep, idop: IDOP) -> PlainTextResponse:
    """PayFiP's notification: the operation's result is asked of PayFiP and recorded."""
    with db.pool.connection() as conn:
        if conn.execute("SELECT 1 FROM online_payments WHERE idop = %s", (idop,)).fetchone() is None:
            raise HTTPException(404, "opération inconnue")
        _check(conn, idop)
    return PlainTextResponse("ok")


def _check(conn: psycopg.Connection, idop: str) -> str | None:
    """Ask PayFiP the result of the operation and record it; None while PayFiP cannot say."""
    settings = read_payfip(conn)
    if settings is None:
        return None
    try:
        result = payment_result(settings, idop).get("resultrans") or None
    except PayfipError:
        return None
    if result not in RESULTS:
        return None
    conn.execute("UPDATE online_payments SET result = %s, checked_at = %s WHERE idop = %s",
                 (result, datetime.now(UTC), idop))
    return result


def _result(request: Request, status: int, message: str) -> HTMLResponse:
    return page(request, "portal/payment.html", status_code=status, title="Paiement en ligne", outcome=message)
