"""Billing staff pages (facturation) about who is billed: subscribers and their SEPA mandates, contracts
and subscribed power changes, delivery points."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from billing.errors import FieldError, ValidationError
from billing.periods import PARIS
from billing.pes import codes
from billing.records import change_power, save_contract, save_mandate, save_subscriber
from regie_chaleur.deps import DbDep, Offset, check_day
from regie_chaleur.registry.store import save_delivery_point
from regie_chaleur.services import billing_read as q
from regie_chaleur.web.authz import BillingDep
from regie_chaleur.web.render import page
from regie_chaleur.web.views_billing import LIMIT, _form

router = APIRouter(prefix="/facturation", include_in_schema=False)

CATEGORY_OPTIONS = [("logement_social", "Logement social"), ("copropriete", "Copropriété"),
                    ("equipement_public", "Équipement public"), ("tertiaire", "Tertiaire")]



# --- subscribers, contracts, delivery points ------------------------------------------------------------
@router.get("/abonnes", response_class=HTMLResponse)
def subscribers(request: Request, db: DbDep, principal: BillingDep,
                recherche: Annotated[str | None, Query(max_length=64)] = None,
                offset: Offset = 0) -> HTMLResponse:
    with db.pool.connection() as conn:
        rows, total = q.list_subscribers(conn, recherche, LIMIT, offset)
    return page(request, "billing/subscribers.html", title="Abonnés", rows=rows, total=total, offset=offset,
                limit=LIMIT, recherche=recherche or "")


def _subscriber_form(request: Request, **context: Any) -> HTMLResponse:
    """The subscriber form, with the code lists of the debtor's category and legal nature (titres PES)."""
    return page(request, "billing/subscriber_form.html",
                helios_categories=[(k, f"{k} · {v}") for k, v in codes.CATEGORIES.items()],
                helios_natures=[(k, f"{k} · {v}") for k, v in codes.LEGAL_NATURES.items()], **context)


@router.get("/abonnes/nouveau", response_class=HTMLResponse)
def new_subscriber(request: Request, principal: BillingDep) -> HTMLResponse:
    return _subscriber_form(request, title="Nouvel abonné", values={"country": "FR"}, errors=[],
                action="/facturation/abonnes/nouveau")


@router.post("/abonnes/nouveau", response_class=HTMLResponse)
async def create_subscriber(request: Request, db: DbDep, principal: BillingDep) -> Response:
    values = _form(await request.form())
    try:
        with db.pool.connection() as conn:
            new_id = save_subscriber(conn, values, actor=principal.login)
    except ValidationError as exc:
        return _subscriber_form(request, status_code=422, title="Nouvel abonné", values=values,
                    errors=exc.errors, action="/facturation/abonnes/nouveau")
    return RedirectResponse(f"/facturation/abonnes/{new_id}?ok=saved", status_code=303)


@router.get("/abonnes/{subscriber_id}", response_class=HTMLResponse)
def subscriber(request: Request, db: DbDep, principal: BillingDep, subscriber_id: int) -> HTMLResponse:
    with db.pool.connection() as conn:
        found = q.subscriber_detail(conn, subscriber_id)
        recent, _ = q.list_invoices(conn, subscriber_id=subscriber_id, limit=12)
    if found is None:
        raise HTTPException(404, "abonné inconnu")
    return page(request, "billing/subscriber.html", title=found["name"], s=found, invoices=recent, errors=[],
                values={})


@router.get("/abonnes/{subscriber_id}/modifier", response_class=HTMLResponse)
def edit_subscriber(request: Request, db: DbDep, principal: BillingDep, subscriber_id: int) -> HTMLResponse:
    with db.pool.connection() as conn:
        found = q.subscriber_detail(conn, subscriber_id)
    if found is None:
        raise HTTPException(404, "abonné inconnu")
    values = {k: ("oui" if v is True else "" if v in (None, False) else str(v)) for k, v in found.items()
              if not isinstance(v, list)}
    return _subscriber_form(request, title=f"Modifier {found['name']}", values=values, errors=[],
                action=f"/facturation/abonnes/{subscriber_id}/modifier")


@router.post("/abonnes/{subscriber_id}/modifier", response_class=HTMLResponse)
async def update_subscriber(request: Request, db: DbDep, principal: BillingDep, subscriber_id: int) -> Response:
    values = _form(await request.form())
    try:
        with db.pool.connection() as conn:
            save_subscriber(conn, values, actor=principal.login, subscriber_id=subscriber_id)
    except ValidationError as exc:
        return _subscriber_form(request, status_code=422, title="Modifier l'abonné",
                    values=values, errors=exc.errors, action=f"/facturation/abonnes/{subscriber_id}/modifier")
    return RedirectResponse(f"/facturation/abonnes/{subscriber_id}?ok=saved", status_code=303)


@router.post("/abonnes/{subscriber_id}/mandats", response_class=HTMLResponse)
async def add_mandate(request: Request, db: DbDep, principal: BillingDep, subscriber_id: int) -> Response:
    values = _form(await request.form())
    with db.pool.connection() as conn:
        found = q.subscriber_detail(conn, subscriber_id)
        if found is None:
            raise HTTPException(404, "abonné inconnu")
        try:
            save_mandate(conn, {**values, "subscriber": found["code"]}, actor=principal.login)
        except ValidationError as exc:
            recent, _ = q.list_invoices(conn, subscriber_id=subscriber_id, limit=12)
            return page(request, "billing/subscriber.html", status_code=422, title=found["name"], s=found,
                        invoices=recent, errors=exc.errors, values=values)
    return RedirectResponse(f"/facturation/abonnes/{subscriber_id}?ok=saved", status_code=303)


@router.get("/contrats", response_class=HTMLResponse)
def contracts(request: Request, db: DbDep, principal: BillingDep,
              recherche: Annotated[str | None, Query(max_length=64)] = None,
              offset: Offset = 0) -> HTMLResponse:
    with db.pool.connection() as conn:
        rows, total = q.list_contracts(conn, search=recherche, limit=LIMIT, offset=offset)
    return page(request, "billing/contracts.html", title="Contrats", rows=rows, total=total, offset=offset,
                limit=LIMIT, recherche=recherche or "")


@router.get("/contrats/nouveau", response_class=HTMLResponse)
def new_contract(request: Request, principal: BillingDep, abonne: str = "") -> HTMLResponse:
    return page(request, "billing/contract_form.html", title="Nouveau contrat", errors=[],
                values={"subscriber": abonne, "frequency": "monthly", "payment_method": "transfer"},
                categories=CATEGORY_OPTIONS)


@router.post("/contrats/nouveau", response_class=HTMLResponse)
async def create_contract(request: Request, db: DbDep, principal: BillingDep) -> Response:
    values = _form(await request.form())
    try:
        with db.pool.connection() as conn:
            save_contract(conn, values, actor=principal.login)
    except ValidationError as exc:
        return page(request, "billing/contract_form.html", status_code=422, title="Nouveau contrat", values=values,
                    errors=exc.errors, categories=CATEGORY_OPTIONS)
    return RedirectResponse(f"/facturation/contrats/{values['number']}?ok=saved", status_code=303)


def contract_page(request: Request, db: Any, number: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The contract page, with a failed form's values and errors (``form`` names which) or notices."""
    with db.pool.connection() as conn:
        found = q.contract_detail(conn, number)
    if found is None:
        raise HTTPException(404, f"contrat {number} inconnu")
    context.setdefault("form", "")
    context.setdefault("values", {})
    context.setdefault("errors", [])
    return page(request, "billing/contract.html", status_code=status_code, title=f"Contrat {number}", c=found,
                today=datetime.now(PARIS).date(), **context)


@router.get("/contrats/{number}", response_class=HTMLResponse)
def contract(request: Request, db: DbDep, principal: BillingDep, number: str) -> HTMLResponse:
    return contract_page(request, db, number)


@router.post("/contrats/{number}/puissance", response_class=HTMLResponse)
async def contract_power(request: Request, db: DbDep, principal: BillingDep, number: str) -> Response:
    """A new subscribed power; one dated inside an invoiced period is saved with its warning shown."""
    values = _form(await request.form())
    errors = []
    try:
        valid_from = check_day(date.fromisoformat(values.get("valid_from", "")))
    except ValueError:
        errors.append(FieldError("valid_from", "date invalide (jj/mm/aaaa)"))
    try:
        power = Decimal(values.get("power_kw", "").replace(",", ".").replace(" ", ""))
    except InvalidOperation:
        errors.append(FieldError("power_kw", f"« {values.get('power_kw', '')} » n'est pas une puissance en kW"))
    if not errors:
        try:
            with db.pool.connection() as conn:
                warnings = change_power(conn, number, valid_from, power, values.get("reason", ""),
                                        actor=principal.login)
        except ValidationError as exc:
            errors = exc.errors
        else:
            if not warnings:
                return RedirectResponse(f"/facturation/contrats/{number}?ok=saved", status_code=303)
            return contract_page(request, db, number, notices=["Puissance enregistrée.", *warnings])
    return contract_page(request, db, number, status_code=422, form="power", values=values, errors=errors)


@router.get("/points-de-livraison", response_class=HTMLResponse)
def delivery_points(request: Request, db: DbDep, principal: BillingDep,
                    recherche: Annotated[str | None, Query(max_length=64)] = None,
                    offset: Offset = 0) -> HTMLResponse:
    pattern = f"%{recherche}%" if recherche else None
    with db.pool.connection() as conn:
        total = conn.execute("SELECT count(*) FROM delivery_points dp WHERE %(q)s::text IS NULL OR dp.code ILIKE %(q)s "
                             "OR dp.name ILIKE %(q)s", {"q": pattern}).fetchone()
        rows = conn.execute(
            """SELECT dp.id, dp.code, dp.name, s.code, m.code, dp.address, dp.subscribed_power_kw,
                      (SELECT number FROM contracts c WHERE c.delivery_point_id = dp.id
                       ORDER BY start_date DESC LIMIT 1)
               FROM delivery_points dp JOIN substations s ON s.id = dp.substation_id
               LEFT JOIN meters m ON m.id = dp.meter_id
               WHERE %(q)s::text IS NULL OR dp.code ILIKE %(q)s OR dp.name ILIKE %(q)s
               ORDER BY dp.code LIMIT %(limit)s OFFSET %(offset)s""",
            {"q": pattern, "limit": LIMIT, "offset": offset}).fetchall()
    return page(request, "billing/delivery_points.html", title="Points de livraison", rows=rows,
                total=int(total[0]) if total else 0, offset=offset, limit=LIMIT, recherche=recherche or "",
                values={}, errors=[])


@router.post("/points-de-livraison", response_class=HTMLResponse)
async def create_delivery_point(request: Request, db: DbDep, principal: BillingDep) -> Response:
    values = _form(await request.form())
    try:
        with db.pool.connection() as conn:
            save_delivery_point(conn, values)
    except ValidationError as exc:
        return page(request, "billing/delivery_points.html", status_code=422, title="Points de livraison", rows=[],
                    total=0, offset=0, limit=LIMIT, recherche="", values=values, errors=exc.errors)
    return RedirectResponse(f"/facturation/points-de-livraison?recherche={values['code']}&ok=saved", status_code=303)


