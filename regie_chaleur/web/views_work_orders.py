"""Operator pages about interventions: the orders (filtered, created by hand or from an alarm), one order
with its life cycle, time, parts, notes, the alarms it answers with their history, the substation's
charts around the event and the proof of repair; the subscribers' requests waiting for an answer; the
yearly preventive visits."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from regie_chaleur.deps import DbDep, Offset, check_day
from regie_chaleur.field import labels, orders, preventive, requests
from regie_chaleur.field.errors import FieldOperationError, InputError, UnknownError
from regie_chaleur.web.authz import OperatorDep
from regie_chaleur.web.charts import epoch
from regie_chaleur.web.render import page

router = APIRouter(prefix="/exploitation", include_in_schema=False)
PAGE = 50
Text = Annotated[str, Form(max_length=4000)]
Short = Annotated[str, Form(max_length=200)]
STATUS_FILTERS = {"open": "en cours (à planifier, planifiées, en cours)", "closed": "closes (terminées, annulées)",
                  **labels.STATUSES, "": "toutes"}
ACTIONS = {"planifier": "planned", "demarrer": "in_progress", "terminer": "done", "annuler": "cancelled",
           "replanifier": "to_plan"}


def _now() -> datetime:
    return datetime.now(UTC)


def _day(text: str) -> date | None:
    """A date typed in a form (AAAA-MM-JJ), None when empty."""
    try:
        return check_day(date.fromisoformat(text.strip())) if text.strip() else None
    except ValueError as exc:
        raise InputError(f"date prévue : {text[:20]} illisible ou hors plage (attendu AAAA-MM-JJ)") from exc


def _labels() -> dict[str, Any]:
    return {"kinds": labels.KINDS, "priorities": labels.PRIORITIES, "statuses": labels.STATUSES,
            "origins": labels.ORIGINS, "request_kinds": labels.REQUEST_KINDS, "proof_labels": labels.PROOF,
            "request_statuses": labels.REQUEST_STATUSES, "indicators": labels.INDICATORS}


@router.get("/interventions", response_class=HTMLResponse)
def order_list(request: Request, db: DbDep, principal: OperatorDep,
               statut: Annotated[str, Query(max_length=20)] = "open", type: Annotated[str, Query(max_length=20)] = "",
               sous_station: Annotated[str, Query(max_length=64)] = "", offset: Offset = 0) -> HTMLResponse:
    status = statut if statut in STATUS_FILTERS else "open"
    kind = type if type in labels.KINDS else ""
    with db.pool.connection() as conn:
        rows, total = orders.list_orders(conn, status=status, kind=kind, substation=sous_station, limit=PAGE,
                                         offset=offset)
        waiting = requests.list_requests(conn, status="open", limit=20)
    query = f"statut={status}&type={kind}&sous_station={sous_station}"
    return page(request, "operations/orders.html", title="Interventions", rows=rows, total=total, offset=offset,
                limit=PAGE, status=status, kind=kind, substation=sous_station, status_filters=STATUS_FILTERS,
                query=query, waiting=waiting, now_year=_now().year, **_labels())


@router.get("/interventions/nouvelle", response_class=HTMLResponse)
def order_form(request: Request, principal: OperatorDep, lieu: Annotated[str, Query(max_length=20)] = "substation",
               code: Annotated[str, Query(max_length=64)] = "") -> HTMLResponse:
    values = {"place_kind": lieu, "place_code": code, "kind": "repair", "priority": "normal"}
    return page(request, "operations/order_form.html", title="Nouvelle intervention", values=values, error="",
                **_labels())


@router.post("/interventions/nouvelle", response_class=HTMLResponse)
def order_create(request: Request, db: DbDep, principal: OperatorDep, titre: Short, type: Short = "repair",
                 priorite: Short = "normal", lieu: Short = "substation", code: Short = "", equipe: Short = "",
                 prevue_le: Short = "", description: Text = "") -> Any:
    values = {"title": titre, "kind": type, "priority": priorite, "place_kind": lieu, "place_code": code,
              "team": equipe, "planned_for": prevue_le, "description": description}
    try:
        day = _day(prevue_le)
        with db.pool.connection() as conn:
            order_id = orders.create_order(conn, title=titre, kind=type, place=(lieu, code), by=principal.login,
                                           now=_now(), priority=priorite, team=equipe, description=description,
                                           planned_for=day)
    except FieldOperationError as exc:
        return page(request, "operations/order_form.html", status_code=422, title="Nouvelle intervention",
                    values=values, error=str(exc), **_labels())
    return RedirectResponse(f"/exploitation/interventions/{order_id}?ok=saved", status_code=303)


@router.post("/interventions/depuis-alarme/{alarm_id}")
def order_from_alarm(db: DbDep, principal: OperatorDep, alarm_id: int) -> RedirectResponse:
    with db.pool.connection() as conn:
        order_id = orders.order_from_alarm(conn, alarm_id, principal.login, _now())
    return RedirectResponse(f"/exploitation/interventions/{order_id}", status_code=303)


@router.get("/interventions/{order_id}", response_class=HTMLResponse)
def order_page(request: Request, db: DbDep, principal: OperatorDep, order_id: int) -> HTMLResponse:
    with db.pool.connection() as conn:
        order = orders.read_order(conn, order_id)
    around = order["alarms"][0]["raised_at"] if order["alarms"] else order["created_at"]
    window = (around - timedelta(days=3), min(around + timedelta(days=4), _now() + timedelta(hours=1)))
    return page(request, "operations/order.html", title=f"Intervention {order_id}", o=order, window=window,
                actions=ACTIONS, transitions=orders.TRANSITIONS, **_labels())


@router.post("/interventions/{order_id}/{action}")
def order_action(db: DbDep, principal: OperatorDep, order_id: int, action: str, commentaire: Text = "",
                 date_prevue: Short = "", minutes: Short = "", designation: Short = "", quantite: Short = "",
                 unite: Short = "u") -> RedirectResponse:
    now = _now()
    with db.pool.connection() as conn:
        if action in ACTIONS:
            orders.set_status(conn, order_id, ACTIONS[action], principal.login, now, commentaire, _day(date_prevue))
        elif action == "temps":
            if not minutes.strip().isdigit():
                raise InputError("temps passé : un nombre entier de minutes")
            orders.add_time(conn, order_id, int(minutes), principal.login, now, commentaire)
        elif action == "piece":
            try:
                quantity = Decimal(quantite.replace(",", ".").strip())
            except InvalidOperation as exc:
                raise InputError(f"pièce : quantité illisible « {quantite[:20]} »") from exc
            orders.add_part(conn, order_id, designation, quantity, unite, principal.login, now)
        elif action == "note":
            orders.add_note(conn, order_id, commentaire, principal.login, now)
        else:
            raise UnknownError(f"action inconnue : {action[:30]}")
    return RedirectResponse(f"/exploitation/interventions/{order_id}?ok=saved", status_code=303)


@router.get("/donnees/intervention/{order_id}")
def evidence_data(db: DbDep, principal: OperatorDep, order_id: int) -> JSONResponse:
    with db.pool.connection() as conn:
        return JSONResponse(evidence_chart(orders.read_order(conn, order_id)))


def evidence_chart(order: dict[str, Any]) -> dict[str, Any]:
    """The proof's daily ΔT and return temperature, with what the days before expected for each day's
    weather (dashed): the gap after the intervention is the measured effect."""
    proof = order.get("proof") or {}
    series = proof.get("series") or {}
    days = [date.fromisoformat(d) for d in series.get("days", [])]
    lines = {i["column"]: i for i in proof.get("indicators", [])}
    out = []
    colors = {"delta_t": "#1f5f8b", "t_return": "#8f2a1f"}
    names = {"delta_t": ("ΔT primaire mesuré", "ΔT attendu sans intervention"),
             "t_return": ("Retour mesuré", "Retour attendu sans intervention")}
    for column in ("delta_t", "t_return"):
        if column not in series:
            continue
        unit = labels.INDICATORS[column][1]
        out.append({"label": names[column][0], "unit": unit, "values": series[column], "color": colors[column]})
        if column in lines:
            a, b = lines[column]["intercept"], lines[column]["slope"]
            out.append({"label": names[column][1], "unit": unit, "dash": [6, 4],
                        "color": colors[column], "values": [None if t is None else round(a + b * t, 2)
                                                            for t in series.get("t_outdoor", [])]})
    return {"x": [epoch(d) for d in days], "series": out}


@router.get("/demandes", response_class=HTMLResponse)
def request_list(request: Request, db: DbDep, principal: OperatorDep,
                 statut: Annotated[str, Query(max_length=20)] = "pending") -> HTMLResponse:
    status = statut if statut in ("pending", "answered", "") else "pending"
    with db.pool.connection() as conn:
        rows = requests.list_requests(conn, status=status, limit=200)
    return page(request, "operations/requests.html", title="Demandes d'abonnés", rows=rows, status=status,
                **_labels())


@router.post("/demandes/{request_id}/{action}")
def request_action(db: DbDep, principal: OperatorDep, request_id: int, action: str,
                   reponse: Text = "") -> RedirectResponse:
    with db.pool.connection() as conn:
        if action == "intervention":
            order_id = requests.order_from_request(conn, request_id, principal.login, _now())
            return RedirectResponse(f"/exploitation/interventions/{order_id}", status_code=303)
        if action != "repondre":
            raise UnknownError(f"action inconnue : {action[:30]}")
        requests.answer_request(conn, request_id, reponse, principal.login, _now())
    return RedirectResponse("/exploitation/demandes?ok=saved", status_code=303)


@router.post("/interventions-preventives")
def generate_visits(db: DbDep, principal: OperatorDep, annee: Short = "") -> RedirectResponse:
    """The year's preventive visits: every substation without a plan gets one, then the orders."""
    if not annee.strip().isdigit():
        raise InputError("année : quatre chiffres")
    with db.pool.connection() as conn:
        preventive.plan_every_substation(conn)
        preventive.generate_visits(conn, int(annee), principal.login, _now())
    return RedirectResponse("/exploitation/interventions?statut=open&type=preventive&ok=saved", status_code=303)
