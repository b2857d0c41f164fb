"""Operator pages (conduite du réseau): overview, substations, one substation, alarms, forecast and plan."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from markupsafe import Markup

from regie_chaleur.api.deps import DbDep, Offset
from regie_chaleur.forecast_service import forecast_accuracy
from regie_chaleur.operations import alarms as alarm_ops
from regie_chaleur.operations.kpis import network_balance, substation_statuses
from regie_chaleur.web import charts
from regie_chaleur.web.authz import OperatorDep
from regie_chaleur.web.render import ENV, page

router = APIRouter(prefix="/exploitation", include_in_schema=False)
RULE_LABELS = {
    "comm_lost": "communication perdue", "frozen_sensor": "capteur figé", "out_of_range": "valeur hors plage",
    "meter_error": "erreur compteur", "counter_backwards": "compteur qui recule",
    "return_too_high": "retour trop chaud",
    "delta_t_too_low": "ΔT trop faible en charge", "power_above_subscribed": "puissance au-delà de la souscription",
    "night_flow": "débit nocturne vanne fermée", "signature_anomaly": "écart à la signature",
}
STATE_LABELS = {"raised": "levée", "acknowledged": "acquittée", "cleared": "close"}
SORTS = {"code": lambda s: s.code, "statut": lambda s: s.status, "vu": lambda s: s.last_seen or datetime.min.replace(
    tzinfo=UTC), "dt": lambda s: s.delta_t if s.delta_t is not None else -1e9,
         "retour": lambda s: s.t_return_primary if s.t_return_primary is not None else -1e9,
         "puissance": lambda s: s.power_kw if s.power_kw is not None else -1e9,
         "taux": lambda s: (s.power_kw or 0) / s.subscribed_power_kw if s.subscribed_power_kw else -1e9}


OVERVIEW_TTL_S = 10.0  # the live status moves with the 60 s poll; the page refreshes every 30 s
_overview_cache: dict[str, tuple[float, str]] = {}
_overview_lock = threading.Lock()
_overview_refreshing: set[str] = set()


def _live(db: Any) -> Markup:
    """The live tiles and substation grid as HTML, shared by every operator (the fragment holds nothing
    personal): computed once per process, then refreshed in the background when older than
    :data:`OVERVIEW_TTL_S` seconds while requests go on with the previous one (nobody waits for a
    status pass over the whole fleet but the very first request)."""
    with _overview_lock:
        cached = _overview_cache.get(db.url)
        stale = cached is None or time.monotonic() - cached[0] >= OVERVIEW_TTL_S
        if cached is not None and stale and db.url not in _overview_refreshing:
            _overview_refreshing.add(db.url)
            threading.Thread(target=_refresh_overview, args=(db,), name="overview", daemon=True).start()
    if cached is None:
        cached = _refresh_overview(db)
    return Markup(cached[1])  # noqa: S704  (rendered by the autoescaping environment above)


def _refresh_overview(db: Any) -> tuple[float, str]:
    try:
        html = ENV.get_template("operations/tiles.html").render(**_compute_overview(db))
        fresh = (time.monotonic(), html)
        with _overview_lock:
            _overview_cache[db.url] = fresh
        return fresh
    finally:
        with _overview_lock:
            _overview_refreshing.discard(db.url)


def _compute_overview(db: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    with db.pool.connection() as conn:
        statuses, total = substation_statuses(conn, now, limit=100_000)
        open_alarms = dict(conn.execute("SELECT severity, count(*) FROM alarms WHERE state <> 'cleared' "
                                        "GROUP BY 1").fetchall())
        yesterday = (now - timedelta(days=1)).date()
        balance = network_balance(conn, yesterday, yesterday)
    online = [s for s in statuses if s.status != "offline"]
    powers = [s.power_kw for s in online if s.power_kw is not None]
    supplies = [s.t_supply_primary for s in online if s.t_supply_primary is not None]
    returns = [s.t_return_primary for s in online if s.t_return_primary is not None]
    return {"statuses": statuses, "total": total, "online": len(online), "offline": total - len(online),
            "load_mw": sum(powers) / 1000 if powers else None,
            "t_supply": sum(supplies) / len(supplies) if supplies else None,
            "t_return": sum(returns) / len(returns) if returns else None,
            "alarms": open_alarms, "alarm_total": sum(open_alarms.values()), "balance": balance, "at": now}


@router.get("", response_class=HTMLResponse)
def overview(request: Request, db: DbDep, principal: OperatorDep) -> HTMLResponse:
    return page(request, "operations/overview.html", title="Vue d'ensemble du réseau", live=_live(db))


@router.get("/tuiles", response_class=HTMLResponse)
def tiles(request: Request, db: DbDep, principal: OperatorDep) -> HTMLResponse:
    """The live tiles and the substation grid (refreshed every 30 s by the overview page)."""
    return HTMLResponse(str(_live(db)))


@router.get("/donnees/charge")
def load_data(db: DbDep, principal: OperatorDep, start: str | None = None, end: str | None = None) -> JSONResponse:
    """Network load [MW]: measured, forecast band and plan, over [start, end) (default: 3 days back, 4 ahead)."""
    now = datetime.now(UTC)
    begin = datetime.fromisoformat(start) if start else now - timedelta(days=3)
    stop = datetime.fromisoformat(end) if end else now + timedelta(days=4)
    with db.pool.connection() as conn:
        return JSONResponse(charts.load_chart(conn, begin, stop))


@router.get("/sous-stations", response_class=HTMLResponse)
def substations(request: Request, db: DbDep, principal: OperatorDep,
                q: Annotated[str | None, Query(max_length=64)] = None, statut: str | None = None,
                tri: str = "code", ordre: str = "asc", offset: Offset = 0) -> HTMLResponse:
    with db.pool.connection() as conn:
        rows, _ = substation_statuses(conn, datetime.now(UTC), limit=100_000, search=q)
    if statut in ("online", "offline", "alarm"):
        rows = [r for r in rows if r.status == statut]
    rows.sort(key=SORTS.get(tri, SORTS["code"]), reverse=ordre == "desc")
    limit = 100
    return page(request, "operations/substations.html", title="Sous-stations", rows=rows[offset:offset + limit],
                total=len(rows), limit=limit, offset=offset, q=q or "", statut=statut or "", tri=tri, ordre=ordre)


@router.get("/sous-stations/{code}", response_class=HTMLResponse)
def substation(request: Request, db: DbDep, principal: OperatorDep, code: str) -> HTMLResponse:
    with db.pool.connection() as conn:
        found = conn.execute("SELECT id, code, name, network, address FROM substations WHERE code = %s",
                             (code,)).fetchone()
        if found is None:
            raise HTTPException(404, f"sous-station inconnue : {code}")
        status = next(iter(substation_statuses(conn, datetime.now(UTC), search=code)[0]), None)
        alarms = _alarms(conn, substation=code, limit=20)
        points = conn.execute("SELECT code, name, subscribed_power_kw FROM delivery_points WHERE substation_id = %s "
                              "ORDER BY code", (found[0],)).fetchall()
    return page(request, "operations/substation.html", title=f"Sous-station {code}", s=found, status=status,
                alarms=alarms, points=points, rule_labels=RULE_LABELS, state_labels=STATE_LABELS)


@router.get("/donnees/sous-station/{code}")
def substation_data(db: DbDep, principal: OperatorDep, code: str, start: str | None = None,
                    end: str | None = None) -> JSONResponse:
    try:
        begin, stop = charts.parse_range(start, end, default_days=7)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    with db.pool.connection() as conn:
        return JSONResponse(charts.substation_chart(conn, code, begin, stop))


@router.get("/donnees/signature/{code}")
def signature_data(db: DbDep, principal: OperatorDep, code: str) -> JSONResponse:
    today = datetime.now(UTC).date()
    with db.pool.connection() as conn:
        return JSONResponse(charts.signature_chart(conn, code, today - timedelta(days=365), today))


def _alarms(conn: Any, *, state: str | None = None, rule: str | None = None, substation: str | None = None,
            limit: int = 50, offset: int = 0) -> dict[str, Any]:
    where = """WHERE (%(state)s::text IS NULL OR a.state = %(state)s OR (%(state)s = 'open' AND a.state <> 'cleared'))
                 AND (%(rule)s::text IS NULL OR a.rule = %(rule)s) AND (%(sub)s::text IS NULL OR s.code = %(sub)s)"""
    params = {"state": state, "rule": rule, "sub": substation, "limit": limit, "offset": offset}
    base = " FROM alarms a LEFT JOIN substations s ON s.id = a.substation_id LEFT JOIN devices d ON d.id = a.device_id "
    total = conn.execute("SELECT count(*)" + base + where, params).fetchone()
    rows = conn.execute("SELECT a.id, s.code, d.code, a.rule, a.severity, a.state, a.message, a.raised_at, "
                        "a.last_seen_at, a.acknowledged_at, a.acknowledged_by, a.ack_comment, a.cleared_at"
                        + base + where + " ORDER BY a.raised_at DESC, a.id DESC LIMIT %(limit)s OFFSET %(offset)s",
                        params).fetchall()
    return {"rows": rows, "total": int(total[0]) if total else 0}


@router.get("/alarmes", response_class=HTMLResponse)
def alarms(request: Request, db: DbDep, principal: OperatorDep, etat: str = "open", regle: str | None = None,
           sous_station: Annotated[str | None, Query(max_length=64)] = None,
           offset: Offset = 0) -> HTMLResponse:
    state = etat if etat in ("open", "raised", "acknowledged", "cleared") else None
    with db.pool.connection() as conn:
        found = _alarms(conn, state=state, rule=regle or None, substation=sous_station or None, offset=offset)
    return page(request, "operations/alarms.html", title="Alarmes", etat=etat, regle=regle or "",
                sous_station=sous_station or "", offset=offset, limit=50, rule_labels=RULE_LABELS,
                state_labels=STATE_LABELS, rules=list(RULE_LABELS), **found)


@router.get("/alarmes/{alarm_id}", response_class=HTMLResponse)
def alarm(request: Request, db: DbDep, principal: OperatorDep, alarm_id: int) -> HTMLResponse:
    with db.pool.connection() as conn:
        found = conn.execute("SELECT a.id, s.code, d.code, a.rule, a.severity, a.state, a.message, a.value, "
                             "a.threshold, a.raised_at FROM alarms a LEFT JOIN substations s ON s.id = a.substation_id "
                             "LEFT JOIN devices d ON d.id = a.device_id WHERE a.id = %s", (alarm_id,)).fetchone()
        if found is None:
            raise HTTPException(404, "alarme inconnue")
        events = conn.execute("SELECT at, event, by_whom, comment FROM alarm_events WHERE alarm_id = %s "
                              "ORDER BY at, id", (alarm_id,)).fetchall()
    return page(request, "operations/alarm.html", title=f"Alarme {alarm_id}", a=found, events=events,
                rule_labels=RULE_LABELS, state_labels=STATE_LABELS)


@router.post("/alarmes/{alarm_id}/{action}")
def alarm_action(request: Request, db: DbDep, principal: OperatorDep, alarm_id: int, action: str,
                 commentaire: Annotated[str, Form(max_length=2000)] = "", retour: Annotated[str, Form()] = "") -> Any:
    if action not in ("acquitter", "clore"):
        raise HTTPException(404, "action inconnue")
    with db.pool.connection() as conn:
        try:
            if action == "acquitter":
                alarm_ops.acknowledge(conn, alarm_id, principal.login, commentaire, datetime.now(UTC))
            else:
                alarm_ops.clear(conn, alarm_id, principal.login, commentaire, datetime.now(UTC))
        except alarm_ops.AlarmStateError as exc:
            raise HTTPException(409, str(exc)) from exc
    back = retour if retour.startswith("/exploitation/") else "/exploitation/alarmes"
    sep = "&" if "?" in back else "?"
    return RedirectResponse(f"{back}{sep}ok=alarm-{'acknowledged' if action == 'acquitter' else 'cleared'}",
                            status_code=303)


@router.get("/prevision", response_class=HTMLResponse)
def forecast(request: Request, db: DbDep, principal: OperatorDep) -> HTMLResponse:
    now = datetime.now(UTC)
    with db.pool.connection() as conn:
        accuracy = forecast_accuracy(conn, now, 30)
        last = conn.execute("SELECT id, issued_at, weather_source FROM load_forecasts WHERE scope = 'network' "
                            "ORDER BY issued_at DESC LIMIT 1").fetchone()
        plan = charts.latest_plan(conn)
        per_plant = conn.execute(
            "SELECT plant, sum(production_mw), sum(started::int) FROM plan_production WHERE plan_id = %s "
            "GROUP BY plant ORDER BY plant", (plan["id"],)).fetchall() if plan else []
    return page(request, "operations/forecast.html", title="Prévision et plan de production", accuracy=accuracy,
                last=last, plan=plan, per_plant=per_plant, today=date.today())


@router.get("/donnees/plan/{plan_id}")
def plan_data(db: DbDep, principal: OperatorDep, plan_id: int) -> JSONResponse:
    with db.pool.connection() as conn:
        return JSONResponse(charts.plan_chart(conn, plan_id))
