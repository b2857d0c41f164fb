"""Operator pages about production: the load forecast and its accuracy, the 7-day production plan, and
the plants' outage calendar (an unavailability declared here re-plans at once)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from regie_chaleur.deps import DbDep, check_instant
from regie_chaleur.errors import RegieError
from regie_chaleur.services.forecast import forecast_accuracy
from regie_chaleur.services.planning import (
    cancel_unavailability,
    declare_unavailability,
    plan_latest,
    plant_names,
    read_system_doc,
    read_unavailabilities,
)
from regie_chaleur.web import charts
from regie_chaleur.web.authz import OperatorDep
from regie_chaleur.web.render import page

router = APIRouter(prefix="/exploitation", include_in_schema=False)
PARIS = ZoneInfo("Europe/Paris")


def _context(conn: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    plan = charts.latest_plan(conn)
    return {
        "accuracy": forecast_accuracy(conn, now, 30),
        "last": conn.execute("SELECT id, issued_at, weather_source FROM load_forecasts WHERE scope = 'network' "
                             "ORDER BY issued_at DESC LIMIT 1").fetchone(),
        "plan": plan,
        "per_plant": conn.execute(
            "SELECT plant, sum(production_mw), sum(started::int) FROM plan_production WHERE plan_id = %s "
            "GROUP BY plant ORDER BY plant", (plan["id"],)).fetchall() if plan else [],
        "unavailabilities": read_unavailabilities(conn, now),
        "plants": plant_names(read_system_doc(None)),
        "today": now.astimezone(PARIS).date(),
    }


@router.get("/prevision", response_class=HTMLResponse)
def forecast(request: Request, db: DbDep, principal: OperatorDep) -> HTMLResponse:
    with db.pool.connection() as conn:
        context = _context(conn)
    return page(request, "operations/forecast.html", title="Prévision et plan de production", errors=[],
                form={}, **context)


@router.get("/donnees/plan/{plan_id}")
def plan_data(db: DbDep, principal: OperatorDep, plan_id: int) -> JSONResponse:
    with db.pool.connection() as conn:
        return JSONResponse(charts.plan_chart(conn, plan_id))


def _local(text: str, label: str, errors: list[str]) -> datetime | None:
    """A ``datetime-local`` field (Europe/Paris wall time) as an aware instant."""
    try:
        return check_instant(datetime.fromisoformat(text).replace(tzinfo=PARIS))
    except ValueError:
        errors.append(f"{label} : date et heure illisibles ({text[:20] or 'vide'})")
        return None


Field = Annotated[str, Form(max_length=200)]


@router.post("/indisponibilites", response_class=HTMLResponse)
def declare(request: Request, db: DbDep, principal: OperatorDep, installation: Field, debut: Field, fin: Field,
            motif: Annotated[str, Form(max_length=500)] = "") -> Response:
    """Record a plant's unavailability, then re-plan from the latest forecast at once."""
    errors: list[str] = []
    start, end = _local(debut, "début", errors), _local(fin, "fin", errors)
    form = {"installation": installation, "debut": debut, "fin": fin, "motif": motif}
    if start is not None and end is not None:
        try:
            with db.pool.connection() as conn:
                declare_unavailability(conn, installation, start, end, motif, principal.login,
                                       plant_names(read_system_doc(None)))
        except RegieError as exc:
            errors.append(str(exc))
    if errors:
        with db.pool.connection() as conn:
            context = _context(conn)
        return page(request, "operations/forecast.html", status_code=422, title="Prévision et plan de production",
                    errors=errors, form=form, **context)
    return _replan(request, db, "unavailability-saved")


@router.post("/indisponibilites/{unavailability_id}/annuler")
def cancel(request: Request, db: DbDep, principal: OperatorDep, unavailability_id: int) -> Response:
    with db.pool.connection() as conn:
        try:
            cancel_unavailability(conn, unavailability_id, principal.login)
        except RegieError as exc:
            raise HTTPException(409, str(exc)) from exc
    return _replan(request, db, "unavailability-cancelled")


def _replan(request: Request, db: Any, message: str) -> Response:
    """Plan again from the latest forecast with the calendar as it now stands; a plan that cannot be made
    is said on the page (the unavailability stays recorded)."""
    try:
        with db.pool.connection() as conn:
            plan_latest(conn, read_system_doc(None), force=True)
    except RegieError as exc:
        with db.pool.connection() as conn:
            context = _context(conn)
        return page(request, "operations/forecast.html", status_code=409, title="Prévision et plan de production",
                    errors=[f"Indisponibilité enregistrée, mais pas de nouveau plan : {exc}"], form={}, **context)
    return RedirectResponse(f"/exploitation/prevision?ok={message}#plan", status_code=303)

