"""Billing staff pages (facturation) for the operations of a year: meter readings entered or corrected
(with their plausibility warnings to confirm), meter replacements, the end of a contract, the change of
occupant and the final invoice, a contract over several delivery points.

A form that fails keeps what was typed and says what is wrong beside the field; a refusal of the
operation itself (an issued invoice in the way, a run in review) is shown above the form.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from billing.errors import BillingError, FieldError, NotFoundError, ValidationError
from billing.meters import KIND_LABELS, PARIS, PlausibilityWarning, record_reading
from billing.occupancy import add_delivery_point, change_occupant, end_contract
from regie_chaleur.deps import DbDep, check_day, check_instant
from regie_chaleur.services import billing_read as q
from regie_chaleur.services.billing import final_invoice
from regie_chaleur.services.meters import replace_meter
from regie_chaleur.web.authz import BillingDep
from regie_chaleur.web.render import page
from regie_chaleur.web.views_billing import _form
from regie_chaleur.web.views_billing_parties import CATEGORY_OPTIONS, contract_page

router = APIRouter(prefix="/facturation", include_in_schema=False)
READING_KINDS = [(k, v) for k, v in KIND_LABELS.items()]
SOURCE_LABELS = {"actual": "télérelève", "manual": "relevé d'un agent", "subscriber": "relevé de l'abonné",
                 "correction": "correction d'index"}


class FormErrors(Exception):
    """What is wrong with a form, field by field (the page shows each beside its field)."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


def parse_day(values: dict[str, str], key: str, errors: list[FieldError]) -> date | None:
    try:
        return check_day(date.fromisoformat(values.get(key, "").strip()))
    except ValueError:
        errors.append(FieldError(key, "date attendue (jj/mm/aaaa)"))
        return None


def parse_instant(values: dict[str, str], key: str, errors: list[FieldError]) -> datetime | None:
    """A ``datetime-local`` field read as Paris local time."""
    try:
        return check_instant(datetime.fromisoformat(values.get(key, "").strip()).replace(tzinfo=PARIS))
    except ValueError:
        errors.append(FieldError(key, "date et heure attendues"))
        return None


def parse_amount(values: dict[str, str], key: str, errors: list[FieldError]) -> Decimal | None:
    text = values.get(key, "").replace("\u202f", "").replace("\xa0", "").replace(" ", "").replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        errors.append(FieldError(key, f"« {values.get(key, '')} » n'est pas un nombre"))
        return None
    if not value.is_finite():
        errors.append(FieldError(key, f"« {values.get(key, '')} » n'est pas un nombre"))
        return None
    return value


def attempt(action: Callable[[], Any], field: str = "form") -> list[FieldError]:
    """Run ``action``; the problems it raises as field errors (a refusal of the operation under ``field``)."""
    try:
        action()
    except FormErrors as exc:
        return exc.errors
    except ValidationError as exc:
        return exc.errors
    except NotFoundError:
        raise
    except BillingError as exc:
        return [FieldError(field, str(exc))]
    return []


# --- delivery points: readings, meter replacement, change of occupant -------------------------------------
def _point_page(request: Request, db: Any, code: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    with db.pool.connection() as conn:
        found = q.delivery_point_detail(conn, code)
    if found is None:
        raise HTTPException(404, f"point de livraison {code} inconnu")
    context.setdefault("form", "")
    context.setdefault("values", {})
    context.setdefault("errors", [])
    return page(request, "billing/delivery_point.html", status_code=status_code, title=f"Point de livraison {code}",
                p=found, kinds=READING_KINDS, sources=SOURCE_LABELS, categories=CATEGORY_OPTIONS, **context)


@router.get("/points-de-livraison/{code}", response_class=HTMLResponse)
def delivery_point(request: Request, db: DbDep, principal: BillingDep, code: str) -> HTMLResponse:
    return _point_page(request, db, code)


@router.post("/points-de-livraison/{code}/releves", response_class=HTMLResponse)
async def reading(request: Request, db: DbDep, principal: BillingDep, code: str) -> Response:
    values = _form(await request.form())
    warnings: list[str] = []

    def save() -> None:
        errors: list[FieldError] = []
        day = parse_day(values, "day", errors)
        index = parse_amount(values, "index_kwh", errors)
        read_at = parse_instant(values, "read_at", errors) if values.get("read_at") else None
        if errors:
            raise FormErrors(errors)
        assert day is not None and index is not None  # noqa: S101
        with db.pool.connection() as conn:
            meter = conn.execute("SELECT m.code FROM delivery_points dp JOIN meters m ON m.id = dp.meter_id "
                                 "WHERE dp.code = %s", (code,)).fetchone()
            if meter is None:
                raise FormErrors([FieldError("form", "aucun compteur n'est posé sur ce point de livraison")])
            try:
                record_reading(conn, meter[0], day, index, values.get("kind", ""), values.get("reason", ""),
                               actor=principal.login, read_at=read_at, confirm=values.get("confirm") == "oui")
            except PlausibilityWarning as exc:
                warnings.extend(exc.warnings)
                raise FormErrors([]) from exc

    errors = attempt(save)
    if errors or warnings:
        return _point_page(request, db, code, status_code=422 if errors else 409, form="reading", values=values,
                           errors=errors, warnings=warnings)
    return RedirectResponse(f"/facturation/points-de-livraison/{code}?ok=saved", status_code=303)


@router.post("/points-de-livraison/{code}/compteur", response_class=HTMLResponse)
async def meter_change(request: Request, db: DbDep, principal: BillingDep, code: str) -> Response:
    values = _form(await request.form())

    def save() -> None:
        errors: list[FieldError] = []
        at = parse_instant(values, "at", errors)
        old_final = parse_amount(values, "old_final_kwh", errors)
        new_initial = parse_amount(values, "new_initial_kwh", errors)
        serial = values.get("new_serial", "").strip()
        if not serial:
            errors.append(FieldError("new_serial", "obligatoire : le numéro du nouveau compteur"))
        if errors:
            raise FormErrors(errors)
        assert at is not None and old_final is not None and new_initial is not None  # noqa: S101
        with db.pool.connection() as conn:
            replace_meter(conn, code, at, old_final, serial, new_initial, actor=principal.login)

    errors = attempt(save)
    if errors:
        return _point_page(request, db, code, status_code=422, form="meter", values=values, errors=errors)
    return RedirectResponse(f"/facturation/points-de-livraison/{code}?ok=saved", status_code=303)


@router.post("/points-de-livraison/{code}/occupant", response_class=HTMLResponse)
async def occupant(request: Request, db: DbDep, principal: BillingDep, code: str) -> Response:
    values = _form(await request.form())

    def save() -> None:
        errors: list[FieldError] = []
        last_day = parse_day(values, "last_day", errors)
        if errors:
            raise FormErrors(errors)
        assert last_day is not None  # noqa: S101
        with db.pool.connection() as conn:
            change_occupant(conn, code, last_day, values, actor=principal.login)

    errors = attempt(save)
    if errors:
        return _point_page(request, db, code, status_code=422, form="occupant", values=values, errors=errors)
    return RedirectResponse(f"/facturation/contrats/{values['number']}?ok=occupant", status_code=303)


# --- contracts: end, final invoice, one more delivery point ------------------------------------------------
@router.post("/contrats/{number}/fin", response_class=HTMLResponse)
async def contract_end(request: Request, db: DbDep, principal: BillingDep, number: str) -> Response:
    values = _form(await request.form())

    def save() -> None:
        errors: list[FieldError] = []
        last_day = parse_day(values, "last_day", errors)
        if errors:
            raise FormErrors(errors)
        assert last_day is not None  # noqa: S101
        with db.pool.connection() as conn:
            end_contract(conn, number, last_day, actor=principal.login)

    errors = attempt(save, "last_day")
    if errors:
        return contract_page(request, db, number, status_code=422, form="end", values=values, errors=errors)
    return RedirectResponse(f"/facturation/contrats/{number}?ok=saved", status_code=303)


@router.post("/contrats/{number}/facture-de-fin", response_class=HTMLResponse)
def contract_final_invoice(request: Request, db: DbDep, principal: BillingDep, number: str) -> Response:
    outcome: dict[str, Any] = {}

    def issue() -> None:
        with db.pool.connection() as conn:
            result = final_invoice(conn, number, actor=principal.login)
        outcome["run"], outcome["issued"] = result.run, result.issued

    errors = attempt(issue, "final")
    if errors:
        return contract_page(request, db, number, status_code=409, form="final", errors=errors)
    if outcome["issued"] is not None and outcome["issued"].first_number:
        return RedirectResponse(f"/facturation/factures/{outcome['issued'].first_number}?ok=issued", status_code=303)
    return RedirectResponse(f"/facturation/tournees/{outcome['run'].run_id}", status_code=303)


@router.post("/contrats/{number}/points", response_class=HTMLResponse)
async def contract_point(request: Request, db: DbDep, principal: BillingDep, number: str) -> Response:
    values = _form(await request.form())

    def save() -> None:
        with db.pool.connection() as conn:
            add_delivery_point(conn, number, values.get("delivery_point", "").strip(), actor=principal.login)

    errors = attempt(save, "delivery_point")
    if errors:
        return contract_page(request, db, number, status_code=422, form="point", values=values, errors=errors)
    return RedirectResponse(f"/facturation/contrats/{number}?ok=saved", status_code=303)
