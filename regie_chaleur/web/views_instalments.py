"""Billing staff pages for monthly instalments (facturation/mensualisation): a subscriber's choice
recorded with its SEPA mandate, the pain.008 file of the instalments due, a plan cancelled, and the
yearly regularisation with its letter (décompte) for the subscriber."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from billing.correspondence import regularisation_pdf
from billing.errors import BillingError, FieldError, NotFoundError, StateError, ValidationError
from billing.instalments import cancel_plan, create_plan, export_instalments, plans, regularise
from regie_chaleur.deps import DbDep
from regie_chaleur.web.authz import BillingDep
from regie_chaleur.web.render import page
from regie_chaleur.web.views_billing import _form
from regie_chaleur.web.views_billing_records import parse_day

router = APIRouter(prefix="/facturation/mensualisation", include_in_schema=False)
STATUS = {"active": "en cours", "regularised": "régularisé", "cancelled": "annulé"}


def plans_page(request: Request, db: Any, status_code: int = 200, **context: Any) -> HTMLResponse:
    with db.pool.connection() as conn:
        rows = plans(conn)
    today = date.today()
    context.setdefault("values", {"months": "12", "debit_day": "5",
                                  "period_start": f"{today.year + (today.month == 12)}-{today.month % 12 + 1:02d}"})
    context.setdefault("errors", [])
    context.setdefault("error", "")
    return page(request, "billing/instalments.html", status_code=status_code, title="Mensualisation", plans=rows,
                status=STATUS, today=today, **context)


@router.get("", response_class=HTMLResponse)
def home(request: Request, db: DbDep, principal: BillingDep) -> HTMLResponse:
    return plans_page(request, db)


@router.post("", response_class=HTMLResponse)
async def choose(request: Request, db: DbDep, principal: BillingDep) -> Response:
    """Record a subscriber's choice of monthly instalments."""
    values = _form(await request.form())
    errors: list[FieldError] = []
    start = None
    try:
        year, month = (int(x) for x in values.get("period_start", "").split("-")[:2])
        start = date(year, month, 1)
    except ValueError:
        errors.append(FieldError("period_start", "mois attendu (aaaa-mm)"))
    numbers = {}
    for key in ("months", "debit_day"):
        try:
            numbers[key] = int(values.get(key, ""))
        except ValueError:
            errors.append(FieldError(key, "nombre entier attendu"))
    expected = None
    if values.get("expected", "").strip():
        try:
            expected = Decimal(values["expected"].strip().replace(" ", "").replace(",", "."))
        except InvalidOperation:
            errors.append(FieldError("expected", "montant attendu (ex. 12 000,00)"))
    try:
        if errors:
            raise ValidationError(errors)
        assert start is not None  # noqa: S101
        with db.pool.connection() as conn:
            create_plan(conn, values.get("subscriber", "").strip(), period_start=start, months=numbers["months"],
                        debit_day=numbers["debit_day"], expected=expected, actor=principal.login, today=date.today())
    except ValidationError as exc:
        return plans_page(request, db, status_code=422, values=values, errors=exc.errors)
    except (NotFoundError, StateError) as exc:
        return plans_page(request, db, status_code=422, values=values, error=str(exc))
    return RedirectResponse("/facturation/mensualisation?ok=plan-created", status_code=303)


@router.post("/prelevements")
async def collect(request: Request, db: DbDep, principal: BillingDep) -> Response:
    """The pain.008 file of the instalments due by the date chosen."""
    values = _form(await request.form())
    errors: list[FieldError] = []
    day = parse_day(values, "collection_date", errors)
    if day is None:
        return plans_page(request, db, status_code=422, error="date de prélèvement attendue (jj/mm/aaaa)")
    try:
        with db.pool.connection() as conn:
            content, _, _ = export_instalments(conn, day, actor=principal.login, today=date.today())
    except ValidationError as exc:
        return plans_page(request, db, status_code=422, error="; ".join(str(e) for e in exc.errors))
    except BillingError as exc:
        return plans_page(request, db, status_code=422, error=str(exc))
    return Response(content, media_type="application/xml", headers={
        "Content-Disposition": f'attachment; filename="mensualisation-{day.isoformat()}.xml"'})


@router.post("/{plan_id}/annulation")
def cancel(request: Request, db: DbDep, principal: BillingDep, plan_id: int) -> Response:
    try:
        with db.pool.connection() as conn:
            cancel_plan(conn, plan_id, actor=principal.login)
    except StateError as exc:
        return plans_page(request, db, status_code=422, error=str(exc))
    return RedirectResponse("/facturation/mensualisation?ok=plan-cancelled", status_code=303)


@router.post("/{plan_id}/regularisation")
def settle(request: Request, db: DbDep, principal: BillingDep, plan_id: int) -> Response:
    try:
        with db.pool.connection() as conn:
            regularise(conn, plan_id, actor=principal.login, today=date.today())
    except (NotFoundError, StateError) as exc:
        return plans_page(request, db, status_code=422, error=str(exc))
    return RedirectResponse("/facturation/mensualisation?ok=plan-regularised", status_code=303)


@router.get("/{plan_id}/decompte.pdf")
def statement(db: DbDep, principal: BillingDep, plan_id: int) -> Response:
    """The regularisation letter (décompte) for the subscriber."""
    try:
        with db.pool.connection() as conn:
            pdf = regularisation_pdf(conn, plan_id, date.today())
    except (NotFoundError, StateError) as exc:
        raise HTTPException(404, str(exc)) from exc
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="regularisation-{plan_id}.pdf"'})
