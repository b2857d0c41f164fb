"""Operator pages (conduite du réseau): overview, substations (and their CSV export), one substation
(and its series as CSV over a chosen range). Alarms: :mod:`.views_alarms`; forecast and plan:
:mod:`.views_planning`."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from markupsafe import Markup

from regie_chaleur.deps import DbDep, Offset, check_day, parse_instant
from regie_chaleur.operations.inventory import STATE_LABELS as DEVICE_STATES
from regie_chaleur.operations.inventory import device_inventory
from regie_chaleur.operations.kpis import network_balance, resolution_for, substation_series
from regie_chaleur.operations.live import network_summary, substation_statuses
from regie_chaleur.web import charts
from regie_chaleur.web.authz import OperatorDep
from regie_chaleur.web.csv_export import cell, csv_response
from regie_chaleur.web.render import ENV, page
from regie_chaleur.web.views_alarms import RULE_LABELS, STATE_LABELS, AlarmFilter, read_alarms

router = APIRouter(prefix="/exploitation", include_in_schema=False)
PARIS = ZoneInfo("Europe/Paris")
STATUS_LABELS = {"online": "en ligne", "alarm": "en alarme", "invalid": "données invalides",
                 "offline": "hors ligne (pas de réponse)"}
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
    summary = network_summary(statuses)
    load = summary["load_kw"]
    return {**summary, "statuses": statuses, "labels": STATUS_LABELS, "total": total,
            "load_mw": load / 1000 if load is not None else None,
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
    try:
        begin = parse_instant(start) if start else now - timedelta(days=3)
        stop = parse_instant(end) if end else now + timedelta(days=4)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    if not timedelta(0) < stop - begin <= timedelta(days=400):
        raise HTTPException(422, "période invalide : la fin doit suivre le début, 400 jours au plus")
    with db.pool.connection() as conn:
        return JSONResponse(charts.load_chart(conn, begin, stop))


@router.get("/sous-stations", response_class=HTMLResponse)
def substations(request: Request, db: DbDep, principal: OperatorDep,
                q: Annotated[str | None, Query(max_length=64)] = None, statut: str | None = None,
                tri: str = "code", ordre: str = "asc", offset: Offset = 0) -> HTMLResponse:
    with db.pool.connection() as conn:
        rows, _ = substation_statuses(conn, datetime.now(UTC), limit=100_000, search=q)
    if statut in STATUS_LABELS:
        rows = [r for r in rows if r.status == statut]
    rows.sort(key=SORTS.get(tri, SORTS["code"]), reverse=ordre == "desc")
    limit = 100
    return page(request, "operations/substations.html", title="Sous-stations", rows=rows[offset:offset + limit],
                now=datetime.now(UTC),
                total=len(rows), limit=limit, offset=offset, q=q or "", statut=statut or "", tri=tri, ordre=ordre)


@router.get("/equipements", response_class=HTMLResponse)
def devices(request: Request, db: DbDep, principal: OperatorDep,
            q: Annotated[str | None, Query(max_length=64)] = None,
            etat: Annotated[str | None, Query(max_length=16)] = None) -> HTMLResponse:
    """The device inventory: profile, endpoint, state and last answer of every Modbus device."""
    now = datetime.now(UTC)
    with db.pool.connection() as conn:
        rows = device_inventory(conn, now, q)
    counts = {state: sum(1 for r in rows if r.state == state) for state in DEVICE_STATES}
    if etat in DEVICE_STATES:
        rows = [r for r in rows if r.state == etat]
    return page(request, "operations/devices.html", title="Équipements", rows=rows, now=now, q=q or "",
                etat=etat or "", states=DEVICE_STATES, counts=counts)


@router.get("/sous-stations/{code}", response_class=HTMLResponse)
def substation(request: Request, db: DbDep, principal: OperatorDep, code: str) -> HTMLResponse:
    with db.pool.connection() as conn:
        found = conn.execute("SELECT id, code, name, network, address FROM substations WHERE code = %s",
                             (code,)).fetchone()
        if found is None:
            raise HTTPException(404, f"sous-station inconnue : {code}")
        status = next(iter(substation_statuses(conn, datetime.now(UTC), code=code)[0]), None)
        alarms = read_alarms(conn, AlarmFilter(state="", substation=code), limit=20)
        points = conn.execute("SELECT code, name, subscribed_power_kw FROM delivery_points WHERE substation_id = %s "
                              "ORDER BY code", (found[0],)).fetchall()
    return page(request, "operations/substation.html", title=f"Sous-station {code}", s=found, status=status,
                now=datetime.now(UTC),
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




@router.get("/sous-stations.csv")
def substations_csv(db: DbDep, principal: OperatorDep, q: Annotated[str | None, Query(max_length=64)] = None,
                    statut: Annotated[str, Query(max_length=16)] = "") -> Response:
    """The substations list with its live state, as French Excel opens it."""
    now = datetime.now(UTC)
    with db.pool.connection() as conn:
        rows, _ = substation_statuses(conn, now, limit=100_000, search=q)
    if statut in STATUS_LABELS:
        rows = [r for r in rows if r.status == statut]
    header = ["sous-station", "nom", "réseau", "état", "dernière mesure", "dernière réponse", "valeurs actuelles",
              "départ primaire (°C)", "retour primaire (°C)", "ΔT (K)", "puissance (kW)", "puissance souscrite (kW)",
              "alarmes en cours"]
    return csv_response("sous-stations.csv", header, (
        [r.code, r.name, r.network, STATUS_LABELS[r.status], cell(r.last_seen), cell(r.last_answer),
         cell(not r.stale), cell(r.t_supply_primary, 1), cell(r.t_return_primary, 1), cell(r.delta_t, 1),
         cell(r.power_kw, 0), cell(r.subscribed_power_kw, 0), cell(r.open_alarms)] for r in rows))


SERIES_HEADER = {"t_supply_primary": "départ primaire (°C)", "t_return_primary": "retour primaire (°C)",
                 "t_supply_secondary": "départ secondaire (°C)", "t_return_secondary": "retour secondaire (°C)",
                 "t_outdoor": "extérieure (°C)", "flow": "débit (m³/h)", "power": "puissance (kW)",
                 "valve_position": "vanne (%)", "energy_kwh": "énergie (kWh)"}


@router.get("/sous-stations/{code}/mesures.csv")
def substation_series_csv(db: DbDep, principal: OperatorDep, code: str,
                          du: Annotated[str, Query(max_length=32)] = "",
                          au: Annotated[str, Query(max_length=32)] = "") -> Response:
    """A substation's series over [du, au] (Europe/Paris days, both included; default the last 7 days) at
    the resolution a chart of that range uses, as French Excel opens it."""
    today = datetime.now(PARIS).date()
    try:
        first = check_day(date.fromisoformat(du)) if du else today - timedelta(days=6)
        last = check_day(date.fromisoformat(au)) if au else today
    except ValueError as exc:
        raise HTTPException(422, "dates illisibles : AAAA-MM-JJ attendu") from exc
    if last < first or (last - first).days > 400:
        raise HTTPException(422, "période invalide : la fin doit suivre le début, 400 jours au plus")
    start = datetime.combine(first, datetime.min.time(), PARIS)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), PARIS)
    with db.pool.connection() as conn:
        if conn.execute("SELECT 1 FROM substations WHERE code = %s", (code,)).fetchone() is None:
            raise HTTPException(404, f"sous-station inconnue : {code}")
        resolution = resolution_for(start, end)
        rows = substation_series(conn, code, start, end, resolution)
    return csv_response(f"{code}-{first:%Y%m%d}-{last:%Y%m%d}.csv",
                        ["instant" if resolution != "day" else "jour", *SERIES_HEADER.values()],
                        ([cell(r["t"]), *(cell(r.get(k), 3) for k in SERIES_HEADER)] for r in rows))
