"""Billing staff pages for the titres de recettes (facturation/titres): how the régie collects and its
identifiers in Hélios, the PES V2 files emitted (to download for the tiers de transmission), and the
emission of the titres of the documents that have none."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from billing import titres
from billing.errors import PesError, StateError, ValidationError
from billing.payfip import MODES, save_payfip
from billing.retours import import_retour
from regie_chaleur.deps import DbDep
from regie_chaleur.web.authz import BillingDep
from regie_chaleur.web.render import page
from regie_chaleur.web.views_billing import _form

router = APIRouter(prefix="/facturation", include_in_schema=False)


def titres_page(request: Request, db: Any, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The settings, the files and what is left to emit (with a failed form's ``errors`` or ``error``)."""
    with db.pool.connection() as conn:
        settings = titres.read_settings(conn)
        files = titres.list_files(conn)
        pending = conn.execute(
            "SELECT count(*) FILTER (WHERE kind = 'invoice'), count(*) FILTER (WHERE kind = 'credit_note') "
            "FROM invoices i WHERE status = 'issued' AND NOT EXISTS (SELECT 1 FROM titres t WHERE t.invoice_id = i.id)"
        ).fetchone()
        rejected = conn.execute(
            "SELECT i.number, t.number, t.exercice, t.state_reason, t.state_at FROM titres t "
            "JOIN invoices i ON i.id = t.invoice_id WHERE t.state = 'rejected' ORDER BY t.state_at DESC LIMIT 200"
        ).fetchall()
        retours = conn.execute("SELECT name, imported_at, imported_by, titres, emargements, unknown FROM pes_retours "
                               "ORDER BY id DESC LIMIT 20").fetchall()
        payfip = conn.execute("SELECT numcli, mode, service_url, payment_url FROM payfip_settings").fetchone()
    context.setdefault("values", {k: v or "" for k, v in settings.items()})
    context.setdefault("errors", [])
    context.setdefault("error", "")
    context.setdefault("payfip_values", dict(zip(("numcli", "mode", "service_url", "payment_url"),
                                                 (v or "" for v in payfip or ("", "T", "", "")), strict=True)))
    context.setdefault("payfip_errors", [])
    return page(request, "billing/titres.html", payfip_modes=[(k, f"{k} : {v}") for k, v in MODES.items()],
                status_code=status_code, title="Titres de recettes",
                settings=settings, files=files, pending=pending, rejected=rejected, retours=retours,
                collections=titres.COLLECTIONS, **context)


@router.get("/titres", response_class=HTMLResponse)
def titres_home(request: Request, db: DbDep, principal: BillingDep) -> HTMLResponse:
    return titres_page(request, db)


@router.post("/titres/reglages", response_class=HTMLResponse)
async def save_settings(request: Request, db: DbDep, principal: BillingDep) -> Response:
    values = _form(await request.form())
    try:
        with db.pool.connection() as conn:
            titres.save_settings(conn, values, actor=principal.login)
    except ValidationError as exc:
        return titres_page(request, db, status_code=422, values=values, errors=exc.errors)
    return RedirectResponse("/facturation/titres?ok=saved", status_code=303)


@router.post("/titres/payfip", response_class=HTMLResponse)
async def save_payfip_settings(request: Request, db: DbDep, principal: BillingDep) -> Response:
    values = _form(await request.form())
    try:
        with db.pool.connection() as conn:
            save_payfip(conn, values, actor=principal.login)
    except ValidationError as exc:
        return titres_page(request, db, status_code=422, payfip_values=values, payfip_errors=exc.errors)
    return RedirectResponse("/facturation/titres?ok=saved", status_code=303)


@router.post("/titres/emettre", response_class=HTMLResponse)
def emit(request: Request, db: DbDep, principal: BillingDep) -> Response:
    """Emit the titres of every issued document without one, dated today."""
    try:
        with db.pool.connection() as conn:
            done = titres.emit_titres(conn, actor=principal.login, on=date.today())
    except (StateError, PesError) as exc:
        return titres_page(request, db, status_code=422, error=str(exc))
    return RedirectResponse(f"/facturation/titres?ok=titres-emitted&fichier={done.file_id}", status_code=303)


@router.post("/tournees/{run_id}/titres", response_class=HTMLResponse)
def emit_run(request: Request, db: DbDep, principal: BillingDep, run_id: int) -> Response:
    """Emit the titres of one run's documents (and of the credit notes on them)."""
    from regie_chaleur.web.views_billing import run_page

    try:
        with db.pool.connection() as conn:
            titres.emit_titres(conn, actor=principal.login, on=date.today(), run_id=run_id)
    except (StateError, PesError) as exc:
        return run_page(request, db, run_id, status_code=422, titres_error=str(exc))
    return RedirectResponse(f"/facturation/tournees/{run_id}?ok=titres-emitted", status_code=303)


@router.get("/titres/fichiers/{file_id}")
def download(db: DbDep, principal: BillingDep, file_id: int) -> Response:
    with db.pool.connection() as conn:
        name, content, _ = titres.read_file(conn, file_id)
    return Response(content, media_type="application/xml",
                    headers={"Content-Disposition": f'attachment; filename="{name}.xml"'})


@router.post("/titres/retour", response_class=HTMLResponse)
async def import_pes_retour(request: Request, db: DbDep, principal: BillingDep, fichier: UploadFile) -> Response:
    """Import a PES Retour file from the public accountant (states, payments, write-offs)."""
    content = await fichier.read()
    name = fichier.filename or "retour.xml"
    if not content:
        return titres_page(request, db, status_code=422, retour_error=f"{name} : fichier vide")
    try:
        with db.pool.connection() as conn:
            done = import_retour(conn, content, name, actor=principal.login)
    except PesError as exc:
        return titres_page(request, db, status_code=422, retour_error=f"{name} : {exc}")
    return titres_page(request, db, retour_done=done, retour_name=name)
