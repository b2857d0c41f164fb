"""Subscriber pages about the service on their sites: their requests (« pas de chauffage »...) and the
answers, the outages they were told of with each building's hall notice, and the interventions on
their substations with the proof of repair."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from regie_chaleur.deps import DbDep
from regie_chaleur.field import labels, notices, orders, outages, requests
from regie_chaleur.field.errors import FieldOperationError, UnknownError
from regie_chaleur.web.authz import PortalDep, Principal, subscriber_scope
from regie_chaleur.web.render import page
from regie_chaleur.web.views_work_orders import evidence_chart

router = APIRouter(prefix="/espace", include_in_schema=False)
PUBLIC_EVENTS = ("created", "status", "proof")  # what a subscriber sees of an order's history (no other subscriber)


def _scope(principal: Principal) -> int:
    scope = subscriber_scope(principal)
    if scope is None:
        raise UnknownError("réservé aux abonnés")
    return scope


def _current_points(conn: psycopg.Connection, subscriber_id: int) -> list[tuple[str, str]]:
    today = datetime.now(UTC).date()
    rows: list[tuple[str, str]] = conn.execute(
        """SELECT DISTINCT dp.code, dp.name FROM contracts c JOIN delivery_points dp ON dp.id = c.delivery_point_id
           WHERE c.subscriber_id = %s AND c.start_date <= %s AND (c.end_date IS NULL OR c.end_date >= %s)
           ORDER BY dp.code""", (subscriber_id, today, today)).fetchall()
    return rows


def _requests_page(request: Request, conn: Any, subscriber_id: int, error: str = "",
                   values: dict[str, str] | None = None, status_code: int = 200) -> HTMLResponse:
    return page(request, "portal/requests.html", status_code=status_code, title="Mes demandes",
                rows=requests.list_requests(conn, subscriber_id=subscriber_id),
                points=_current_points(conn, subscriber_id),
                kinds=labels.REQUEST_KINDS, statuses=labels.REQUEST_STATUSES, error=error, values=values or {})


@router.get("/demandes", response_class=HTMLResponse)
def my_requests(request: Request, db: DbDep, principal: PortalDep) -> HTMLResponse:
    with db.pool.connection() as conn:
        return _requests_page(request, conn, _scope(principal))


@router.post("/demandes", response_class=HTMLResponse)
def file_request(request: Request, db: DbDep, principal: PortalDep, point: Annotated[str, Form(max_length=64)],
                 motif: Annotated[str, Form(max_length=20)],
                 message: Annotated[str, Form(max_length=2000)] = "") -> Any:
    subscriber_id = _scope(principal)
    with db.pool.connection() as conn:
        try:
            requests.file_request(conn, subscriber_id, point, motif, message, principal.login, datetime.now(UTC))
        except FieldOperationError as exc:
            return _requests_page(request, conn, subscriber_id, str(exc), {"point": point, "kind": motif,
                                                                            "message": message}, 422)
    return RedirectResponse("/espace/demandes?ok=saved", status_code=303)


@router.get("/interventions", response_class=HTMLResponse)
def my_interventions(request: Request, db: DbDep, principal: PortalDep) -> HTMLResponse:
    subscriber_id = _scope(principal)
    now = datetime.now(UTC)
    with db.pool.connection() as conn:
        told = outages.subscriber_notices(conn, subscriber_id, now)
        for outage in told:
            outage["mine"] = _own_substations(conn, outage["id"], subscriber_id)
        rows, _total = orders.list_orders(conn, status="", subscriber_id=subscriber_id, limit=100)
    return page(request, "portal/interventions.html", title="Travaux et interventions", outages=told, rows=rows,
                period=notices.period_text, kinds=labels.KINDS, statuses=labels.STATUSES, proof_labels=labels.PROOF,
                outage_kinds=labels.OUTAGE_KINDS)


def _own_substations(conn: psycopg.Connection, outage_id: int, subscriber_id: int) -> list[tuple[str, str]]:
    """The substations of an outage that heat one of the subscriber's delivery points (code, name)."""
    rows: list[tuple[str, str]] = conn.execute(
        """SELECT DISTINCT s.code, s.name FROM outage_substations os JOIN substations s ON s.id = os.substation_id
           JOIN delivery_points dp ON dp.substation_id = s.id JOIN contracts c ON c.delivery_point_id = dp.id
           WHERE os.outage_id = %s AND c.subscriber_id = %s ORDER BY s.code""", (outage_id, subscriber_id)).fetchall()
    return rows


@router.get("/interventions/{order_id}", response_class=HTMLResponse)
def my_intervention(request: Request, db: DbDep, principal: PortalDep, order_id: int) -> HTMLResponse:
    with db.pool.connection() as conn:
        order = orders.read_order(conn, order_id, subscriber_id=_scope(principal))
    order["events"] = [e for e in order["events"] if e["event"] in PUBLIC_EVENTS]
    return page(request, "portal/intervention.html", title=f"Intervention {order_id}", o=order, kinds=labels.KINDS,
                statuses=labels.STATUSES, proof_labels=labels.PROOF, indicators=labels.INDICATORS,
                request_kinds=labels.REQUEST_KINDS)


@router.get("/donnees/intervention/{order_id}")
def my_evidence(db: DbDep, principal: PortalDep, order_id: int) -> JSONResponse:
    with db.pool.connection() as conn:
        return JSONResponse(evidence_chart(orders.read_order(conn, order_id, subscriber_id=_scope(principal))))


@router.get("/coupures/{outage_id}/avis/{code}.pdf")
def my_hall_notice(db: DbDep, principal: PortalDep, outage_id: int, code: str) -> Response:
    subscriber_id = _scope(principal)
    now = datetime.now(UTC)
    with db.pool.connection() as conn:
        told = {o["id"] for o in outages.subscriber_notices(conn, subscriber_id, now)}
        if outage_id not in told or code not in {c for c, _n in _own_substations(conn, outage_id, subscriber_id)}:
            raise UnknownError("avis introuvable")
        pdf = notices.hall_notice(conn, outage_id, code)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="avis-coupure-{outage_id}-{code}.pdf"'})
