"""Operator pages for on-call duty and outages: the weekly rota (who, by rank) and the people who can be
called; the outages (planned works and unplanned cuts) with what they cut, who was told, the notice
for each building's hall, and their declaration."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import psycopg
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from regie_chaleur.deps import DbDep, check_instant
from regie_chaleur.field import labels, notices, oncall, outages
from regie_chaleur.field.errors import FieldOperationError, InputError, UnknownError
from regie_chaleur.web.authz import OperatorDep
from regie_chaleur.web.render import page

router = APIRouter(prefix="/exploitation", include_in_schema=False)
PARIS = ZoneInfo("Europe/Paris")
Short = Annotated[str, Form(max_length=200)]
Text = Annotated[str, Form(max_length=2000)]
WEEKS = 8


def _now() -> datetime:
    return datetime.now(UTC)


@router.get("/astreinte", response_class=HTMLResponse)
def rota_page(request: Request, db: DbDep, principal: OperatorDep) -> HTMLResponse:
    now = _now()
    with db.pool.connection() as conn:
        weeks = oncall.rota(conn, now.astimezone(PARIS).date(), WEEKS)
        people = oncall.people(conn)
        pages = conn.execute(
            """SELECT p.at, p.alarm_id, p.rank, o.name, p.delivered, p.channels FROM alarm_pages p
               LEFT JOIN on_call_people o ON o.id = p.person_id ORDER BY p.at DESC, p.id DESC LIMIT 20""").fetchall()
    escalate = request.app.state.escalate_after_min
    return page(request, "operations/rota.html", title="Astreinte", weeks=weeks, people=people, pages=pages,
                escalate_min=escalate, ranks=range(1, 4), this_week=oncall.week_start(now.astimezone(PARIS).date()))


@router.post("/astreinte/personnes")
def add_person(db: DbDep, principal: OperatorDep, nom: Short, courriel: Short = "", telephone: Short = "") -> Any:
    with db.pool.connection() as conn:
        oncall.add_person(conn, nom, courriel, telephone)
    return RedirectResponse("/exploitation/astreinte?ok=saved", status_code=303)


@router.post("/astreinte/semaines/{week}")
def assign_week(db: DbDep, principal: OperatorDep, week: date,
                rang_1: Short = "", rang_2: Short = "", rang_3: Short = "") -> RedirectResponse:
    with db.pool.connection() as conn, conn.transaction():
        for rank, chosen in enumerate((rang_1, rang_2, rang_3), start=1):
            if chosen.strip() and not chosen.strip().isdigit():
                raise InputError(f"rang {rank} : personne inconnue")
            oncall.assign(conn, week, rank, int(chosen) if chosen.strip() else None)
    return RedirectResponse("/exploitation/astreinte?ok=saved", status_code=303)


@router.get("/coupures", response_class=HTMLResponse)
def outage_list(request: Request, db: DbDep, principal: OperatorDep) -> HTMLResponse:
    with db.pool.connection() as conn:
        rows = outages.list_outages(conn, _now())
    return page(request, "operations/outages.html", title="Coupures", rows=rows, kinds=labels.OUTAGE_KINDS,
                now=_now(), period=notices.period_text)


def _sections(conn: psycopg.Connection) -> list[tuple[str, str]]:
    """The registry's sections (code, name), offered in the outage form."""
    rows: list[tuple[str, str]] = conn.execute(
        "SELECT code, name FROM network_sections ORDER BY network, code").fetchall()
    return rows


def _form_values(lieu: str = "network_section", code: str = "", kind: str = "planned") -> dict[str, Any]:
    return {"kind": kind, "place_kind": lieu, "place_code": code, "notice_days": "7"}


@router.get("/coupures/nouvelle", response_class=HTMLResponse)
def outage_form(request: Request, db: DbDep, principal: OperatorDep,
                lieu: Annotated[str, Query(max_length=20)] = "network_section",
                code: Annotated[str, Query(max_length=64)] = "", type: Annotated[str, Query(max_length=20)] = "planned",
                alarme: int | None = None) -> HTMLResponse:
    values = _form_values(lieu, code, type if type in labels.OUTAGE_KINDS else "planned")
    values["alarm"] = alarme or ""
    with db.pool.connection() as conn:
        sections = _sections(conn)
    return page(request, "operations/outage_form.html", title="Déclarer une coupure", values=values, error="",
                kinds=labels.OUTAGE_KINDS, sections=sections)


def _instant(text: str, field: str) -> datetime | None:
    if not text.strip():
        return None
    try:
        local = datetime.fromisoformat(text.strip())
        return check_instant(local.replace(tzinfo=PARIS) if local.tzinfo is None else local)
    except ValueError as exc:
        raise InputError(f"{field} : date et heure illisibles ou hors plage « {text[:20]} »") from exc


@router.post("/coupures/nouvelle", response_class=HTMLResponse)
def outage_create(request: Request, db: DbDep, principal: OperatorDep, titre: Short, type: Short = "planned",
                  lieu: Short = "network_section", code: Short = "", debut: Short = "", fin: Short = "",
                  retour_estime: Short = "", preavis_jours: Short = "7", motif: Text = "", alarme: Short = "") -> Any:
    values = {"title": titre, "kind": type, "place_kind": lieu, "place_code": code, "start": debut, "end": fin,
              "estimated_return": retour_estime, "notice_days": preavis_jours, "reason": motif, "alarm": alarme}
    now = _now()
    try:
        start = _instant(debut, "début") or (now if type == "unplanned" else None)
        if start is None:
            raise InputError("début : obligatoire")
        if not preavis_jours.strip().isdigit():
            raise InputError("préavis : un nombre de jours")
        with db.pool.connection() as conn:
            outage_id = outages.declare_outage(
                conn, kind=type, title=titre, place=(lieu, code), start=start, by=principal.login, now=now,
                end=_instant(fin, "fin"), estimated_return=_instant(retour_estime, "retour estimé"),
                notice_days=int(preavis_jours), reason=motif,
                alarm_id=int(alarme) if alarme.strip().isdigit() else None)
            notices.send_notices(conn, now, request.app.state.mailer)  # those due at once
    except FieldOperationError as exc:
        with db.pool.connection() as conn:
            sections = _sections(conn)
        return page(request, "operations/outage_form.html", status_code=422, title="Déclarer une coupure",
                    values=values, error=str(exc), kinds=labels.OUTAGE_KINDS, sections=sections)
    return RedirectResponse(f"/exploitation/coupures/{outage_id}?ok=saved", status_code=303)


@router.get("/coupures/{outage_id}", response_class=HTMLResponse)
def outage_page(request: Request, db: DbDep, principal: OperatorDep, outage_id: int) -> HTMLResponse:
    with db.pool.connection() as conn:
        outage = outages.read_outage(conn, outage_id)
    notice_at = outage["start_at"] - timedelta(days=outage["notice_days"])
    return page(request, "operations/outage.html", title=f"Coupure {outage_id}", o=outage, kinds=labels.OUTAGE_KINDS,
                period=notices.period_text(outage), notice_at=notice_at, now=_now())


@router.post("/coupures/{outage_id}/{action}")
def outage_action(db: DbDep, principal: OperatorDep, outage_id: int, action: str,
                  retour_estime: Short = "") -> RedirectResponse:
    with db.pool.connection() as conn:
        if action == "terminer":
            outages.end_outage(conn, outage_id, _now())
        elif action == "annuler":
            outages.cancel_outage(conn, outage_id, principal.login, _now())
        elif action == "retour":
            when = _instant(retour_estime, "retour estimé")
            if when is None:
                raise InputError("retour estimé : obligatoire")
            outages.update_return(conn, outage_id, when)
        else:
            raise UnknownError(f"action inconnue : {action[:30]}")
    return RedirectResponse(f"/exploitation/coupures/{outage_id}?ok=saved", status_code=303)


@router.get("/coupures/{outage_id}/avis/{code}.pdf")
def hall_notice(db: DbDep, principal: OperatorDep, outage_id: int, code: str) -> Response:
    with db.pool.connection() as conn:
        pdf = notices.hall_notice(conn, outage_id, code)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="avis-coupure-{outage_id}-{code}.pdf"'})


@router.get("/coupures/{outage_id}/abonnes/{code}.pdf")
def subscriber_notice(db: DbDep, principal: OperatorDep, outage_id: int, code: str) -> Response:
    """The notice to one subscriber, to post when it was not e-mailed."""
    with db.pool.connection() as conn:
        row = conn.execute("SELECT id FROM subscribers WHERE code = %s", (code,)).fetchone()
        if row is None:
            raise UnknownError(f"abonné inconnu : {code[:64]}")
        pdf = notices.subscriber_notice(conn, outage_id, int(row[0]))
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="avis-coupure-{outage_id}-{code}.pdf"'})

