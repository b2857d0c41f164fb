"""Billing staff pages (facturation) for the rules voted or declared as dated data: closing a tariff
version, the VAT periods of a network (its renewable-and-recovered share), category reductions voted by
deliberation, and the billing policy of the régie or of one network. Each form is on the tariffs page;
one that fails is shown again with what was typed and what is wrong."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from billing.errors import FieldError
from billing.regie import save_policy, save_reduction, save_vat_period
from billing.succession import close_tariff, close_vat_period
from regie_chaleur.deps import DbDep
from regie_chaleur.web.authz import BillingDep
from regie_chaleur.web.views_billing import _form, tariffs_page
from regie_chaleur.web.views_billing_records import FormErrors, attempt, parse_amount, parse_day

router = APIRouter(prefix="/facturation", include_in_schema=False)
Code = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


def _done_or_again(request: Request, db: DbDep, form: str, values: dict[str, str],
                   errors: list[FieldError]) -> Response:
    if errors:
        return tariffs_page(request, db, status_code=422, form=form, values=values, errors=errors)
    return RedirectResponse("/facturation/tarifs?ok=saved", status_code=303)


@router.post("/tarifs/{category}/{valid_from}/cloture", response_class=HTMLResponse)
async def tariff_close(request: Request, db: DbDep, principal: BillingDep, category: Code,
                       valid_from: date) -> Response:
    """End a tariff version: ``valid_to`` is the first day it no longer applies."""
    values = _form(await request.form())

    def save() -> None:
        errors: list[FieldError] = []
        valid_to = parse_day(values, "valid_to", errors)
        if valid_to is None:
            raise FormErrors(errors)
        with db.pool.connection() as conn:
            close_tariff(conn, category, valid_from, valid_to, actor=principal.login)

    values["key"] = f"{category}/{valid_from.isoformat()}"
    return _done_or_again(request, db, "tariff-close", values, attempt(save, "valid_to"))


@router.post("/tva", response_class=HTMLResponse)
async def vat_period(request: Request, db: DbDep, principal: BillingDep) -> Response:
    """A network's renewable share from a date, and the VAT rates that follow; the open period before it
    ends that day."""
    values = _form(await request.form())

    def save() -> None:
        errors: list[FieldError] = []
        valid_from = parse_day(values, "valid_from", errors)
        valid_to = parse_day(values, "valid_to", errors) if values.get("valid_to") else None
        share = parse_amount(values, "renewable_share_pct", errors)
        if errors or valid_from is None or share is None:
            raise FormErrors(errors)
        with db.pool.connection() as conn:
            save_vat_period(conn, values.get("network", ""), valid_from, valid_to, share,
                            values.get("justification", ""), actor=principal.login)

    return _done_or_again(request, db, "vat", values, attempt(save, "valid_from"))


@router.post("/tva/{network}/{valid_from}/cloture", response_class=HTMLResponse)
async def vat_close(request: Request, db: DbDep, principal: BillingDep, network: Code,
                    valid_from: date) -> Response:
    """End a VAT period: ``valid_to`` is the first day it no longer applies."""
    values = _form(await request.form())

    def save() -> None:
        errors: list[FieldError] = []
        valid_to = parse_day(values, "valid_to", errors)
        if valid_to is None:
            raise FormErrors(errors)
        with db.pool.connection() as conn:
            close_vat_period(conn, network, valid_from, valid_to, actor=principal.login)

    values["key"] = f"{network}/{valid_from.isoformat()}"
    return _done_or_again(request, db, "vat-close", values, attempt(save, "valid_to"))


@router.post("/reductions", response_class=HTMLResponse)
async def reduction(request: Request, db: DbDep, principal: BillingDep) -> Response:
    """A reduction voted for a whole tariff category."""
    values = _form(await request.form())

    def save() -> None:
        errors: list[FieldError] = []
        valid_from = parse_day(values, "valid_from", errors)
        valid_to = parse_day(values, "valid_to", errors) if values.get("valid_to") else None
        percent = parse_amount(values, "percent", errors)
        if errors or valid_from is None or percent is None:
            raise FormErrors(errors)
        with db.pool.connection() as conn:
            save_reduction(conn, values.get("category", ""), valid_from, valid_to, percent,
                           values.get("applies_to", ""), values.get("deliberation", ""),
                           values.get("label", "").strip() or "Réduction sociale", actor=principal.login)

    return _done_or_again(request, db, "reduction", values, attempt(save, "category"))


@router.post("/politique", response_class=HTMLResponse)
async def policy(request: Request, db: DbDep, principal: BillingDep) -> Response:
    """The régie's billing policy (no network) or a network's own."""
    values = _form(await request.form())

    def save() -> None:
        with db.pool.connection() as conn:
            save_policy(conn, values.get("network") or None, values, actor=principal.login)

    return _done_or_again(request, db, "policy", values, attempt(save, "network"))
