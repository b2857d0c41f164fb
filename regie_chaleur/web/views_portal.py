"""The subscriber portal (espace abonné): consumption, meter indexes, invoices, contract, the network.

Every query here is bound to the signed-in subscriber (``subscriber_scope``): a delivery point, an
invoice or a contract of someone else is not found (404), exactly as one that does not exist. A delivery
point's data is shown only for the periods of the subscriber's own contracts on it (``periods``): a new
occupant never sees the previous one's consumption, nor the one who left what came after.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from billing.correspondence import statement_pdf
from billing.documents.content import read_disclosure
from billing.periods import add_months, boundary
from regie_chaleur.deps import DbDep, Offset
from regie_chaleur.operations.portfolio import DRIFT, cached_portfolio
from regie_chaleur.operations.signatures import subscribed_power_audit
from regie_chaleur.services import billing_read as q
from regie_chaleur.services.documents import monthly_history
from regie_chaleur.services.weather import degree_days_source
from regie_chaleur.web.authz import PortalDep, Principal, subscriber_scope
from regie_chaleur.web.charts import epoch
from regie_chaleur.web.render import page
from telemetry.queries import read_registers_at

router = APIRouter(prefix="/espace", include_in_schema=False)
api = APIRouter(prefix="/api/v1/me", tags=["subscriber portal"])


def _scope(principal: Principal) -> int:
    scope = subscriber_scope(principal)
    if scope is None:  # the portal area admits subscribers only; kept explicit all the same
        raise HTTPException(403, "réservé aux abonnés")
    return scope


def _points(conn: psycopg.Connection, subscriber_id: int) -> list[dict[str, Any]]:
    """The subscriber's delivery points (through their contracts), with network and meter."""
    rows = conn.execute(
        """SELECT DISTINCT ON (dp.code) dp.code, dp.name, dp.address, s.network, m.code, m.device_id, c.number
           FROM contracts c JOIN delivery_points dp ON dp.id = c.delivery_point_id
           JOIN substations s ON s.id = dp.substation_id LEFT JOIN meters m ON m.id = dp.meter_id
           WHERE c.subscriber_id = %s ORDER BY dp.code, c.start_date DESC""", (subscriber_id,)).fetchall()
    points = [dict(zip(("code", "name", "address", "network", "meter", "device_id", "contract"), r, strict=True))
              for r in rows]
    periods = q.all_supply_periods(conn, subscriber_id)
    for point in points:
        point["periods"] = periods.get(point["code"], [])
    return points


def _point(conn: psycopg.Connection, subscriber_id: int, code: str | None) -> dict[str, Any]:
    return _choose(_points(conn, subscriber_id), code)


def _choose(points: list[dict[str, Any]], code: str | None) -> dict[str, Any]:
    """The delivery point ``code`` among the subscriber's ``points`` (the first without a code)."""
    if not points:
        raise HTTPException(404, "aucun point de livraison")
    if code is None:
        return points[0]
    for p in points:
        if p["code"] == code:
            return p
    raise HTTPException(404, "point de livraison inconnu")


def _last_month() -> date:
    return add_months(date.today().replace(day=1), -1)


def monthly_data(conn: psycopg.Connection, point: dict[str, Any]) -> dict[str, Any]:
    """13 months [MWh]: the month, the same month a year earlier, weather-normalised."""
    dju_of = degree_days_source(conn, cached=True)
    cache: dict[date, Any] = {}

    def dju(network: str, month: date) -> Any:
        if month not in cache:
            from billing.model import Period

            cache[month] = dju_of(network, Period(month, add_months(month, 1)))
        return cache[month]

    history = monthly_history(conn, point["code"], _last_month(), point["network"], dju, point["periods"])

    def mwh(v: Any) -> float | None:
        return None if v is None else round(float(v) / 1000, 2)

    from billing import fr

    return {"labels": [fr.short_month(p.month) for p in history], "series": [
        {"label": "Un an plus tôt", "unit": "MWh", "color": "#b9b8b3",
         "values": [mwh(p.kwh_year_before) for p in history]},
        {"label": "Consommation", "unit": "MWh", "color": "#8f2a1f", "values": [mwh(p.kwh) for p in history]},
        {"label": "Corrigée du climat", "unit": "MWh", "color": "#1f5f8b", "line": True,
         "values": [mwh(p.kwh_normalised) for p in history]},
    ]}


def daily_data(conn: psycopg.Connection, point: dict[str, Any], days: int = 60) -> dict[str, Any]:
    """The last ``days`` days [kWh] against the same days a year earlier, and the outdoor temperature [°C]."""
    end = date.today()
    start = end - timedelta(days=days)
    rows = conn.execute(
        """SELECT day, energy_kwh, (t_outdoor_min + t_outdoor_max) / 2 FROM substation_daily
           WHERE device_id = %s AND ((day >= %s AND day < %s) OR (day >= %s AND day < %s))""",
        (point["device_id"], start, end, start - timedelta(days=364), end - timedelta(days=364))).fetchall()
    by_day = {r[0]: (r[1], r[2]) for r in rows}
    x = [start + timedelta(days=i) for i in range(days)]

    def value(day: date, i: int) -> float | None:
        found = by_day.get(day)
        if found is None or found[i] is None or (i == 0 and not q.within(day, point["periods"])):
            return None  # the temperature is the network's; the consumption, the subscriber's days only
        return round(float(found[i]), 1)

    return {"x": [epoch(d) for d in x], "series": [
        {"label": "Consommation", "unit": "kWh", "color": "#8f2a1f", "width": 2, "values": [value(d, 0) for d in x]},
        {"label": "Un an plus tôt (même jour de semaine)", "unit": "kWh", "color": "#8c8b86", "dash": [5, 3],
         "values": [value(d - timedelta(days=364), 0) for d in x]},
        {"label": "Température extérieure", "unit": "°C", "axis": "°C", "color": "#1f5f8b",
         "values": [value(d, 1) for d in x]},
    ]}


def monthly_indexes(conn: psycopg.Connection, point: dict[str, Any]) -> list[tuple[date, float | None]]:
    """The meter's energy index [kWh] on the first of each of the last 13 months (télérelève)."""
    months = [add_months(date.today().replace(day=1), -i) for i in range(12, -1, -1)]
    if point["device_id"] is None:
        return [(m, None) for m in months]
    found = read_registers_at(conn, [point["device_id"]] * len(months), [boundary(m) for m in months],
                              timedelta(hours=24))
    def theirs(month: date) -> bool:  # the index of a day the subscriber's supply starts or ends on counts
        return any(start <= month <= stop for start, stop in point["periods"])

    return [(m, found[(point["device_id"], boundary(m))][1]
             if theirs(m) and (point["device_id"], boundary(m)) in found else None) for m in months]


@router.get("", response_class=HTMLResponse)
def consumption(request: Request, db: DbDep, principal: PortalDep, point: str | None = None) -> HTMLResponse:
    scope = _scope(principal)
    with db.pool.connection() as conn:
        points = _points(conn, scope)
        chosen = _choose(points, point) if points else None
        indexes = monthly_indexes(conn, chosen) if chosen else []
        disclosure = read_disclosure(conn, chosen["network"], date.today().year) if chosen else None
    return page(request, "portal/consumption.html", title="Ma consommation", points=points, point=chosen,
                indexes=indexes, disclosure=disclosure)


@router.get("/donnees/mensuel")
def monthly(db: DbDep, principal: PortalDep, point: str | None = None) -> JSONResponse:
    with db.pool.connection() as conn:
        return JSONResponse(monthly_data(conn, _point(conn, _scope(principal), point)))


@router.get("/donnees/journalier")
def daily(db: DbDep, principal: PortalDep, point: str | None = None,
          days: Annotated[int, Query(ge=7, le=366)] = 60) -> JSONResponse:
    with db.pool.connection() as conn:
        return JSONResponse(daily_data(conn, _point(conn, _scope(principal), point), days))


@router.get("/releve.pdf")
def statement(db: DbDep, principal: PortalDep) -> Response:
    """The subscriber's account statement (relevé de compte) as PDF."""
    with db.pool.connection() as conn:
        pdf = statement_pdf(conn, _scope(principal), date.today())
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": 'inline; filename="releve-de-compte.pdf"'})


CONTRACTS_PER_PAGE = 10


@router.get("/sites", response_class=HTMLResponse)
def sites(request: Request, db: DbDep, principal: PortalDep) -> HTMLResponse:
    """All the subscriber's sites: the last twelve months against the twelve before, weather-corrected,
    the largest rises first, those drifting flagged."""
    scope = _scope(principal)
    with db.pool.connection() as conn:
        rows = cached_portfolio(conn, _points(conn, scope), date.today())
    return page(request, "portal/sites.html", title="Mes sites", rows=rows, drift=DRIFT,
                drifting=sum(1 for r in rows if r.drifting))


@router.get("/contrat", response_class=HTMLResponse)
def contract(request: Request, db: DbDep, principal: PortalDep, offset: Offset = 0,
             site: Annotated[str | None, Query(max_length=64)] = None) -> HTMLResponse:
    """The subscriber's contracts, ten to a page (or one site's), each with its subscribed power and the
    power measured over the last year."""
    scope = _scope(principal)
    today = datetime.now(UTC).date()
    with db.pool.connection() as conn:
        sites = _points(conn, scope)
        listed, total = q.list_contracts(conn, subscriber_id=scope, point=site or None, limit=CONTRACTS_PER_PAGE,
                                         offset=offset)
        contracts = [q.contract_detail(conn, c["number"], subscriber_id=scope) for c in listed]
        audit = []
        for c in contracts:  # measured over the subscriber's own days of the last year
            if c is None:
                continue
            window = _audit_window(q.supply_periods(conn, scope, c["delivery_point"]), today)
            if window is not None:
                audit += subscribed_power_audit(conn, *window, codes=[c["delivery_point"]])
        subscriber = q.subscriber_detail(conn, scope)
    return page(request, "portal/contract.html", title="Mon contrat", contracts=[c for c in contracts if c],
                audit={a.delivery_point: a for a in audit}, subscriber=subscriber, sites=sites, site=site or "",
                total=total, offset=offset, limit=CONTRACTS_PER_PAGE)


def _audit_window(periods: q.SupplyPeriods, today: date) -> tuple[date, date] | None:
    """The subscriber's days of the last year on a point, first to last (None: none)."""
    year_ago = today - timedelta(days=365)
    theirs = [(max(s, year_ago), min(e - timedelta(days=1), today)) for s, e in periods if e > year_ago and s <= today]
    if not theirs:
        return None
    return theirs[0][0], theirs[-1][1]


@router.get("/export.csv")
def export(db: DbDep, principal: PortalDep) -> Response:
    """The subscriber's daily consumption of the last two years, per delivery point, as CSV (French Excel)."""
    scope = _scope(principal)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["point_de_livraison", "jour", "energie_kwh", "temperature_exterieure_moyenne_c",
                     "puissance_max_kw"])
    with db.pool.connection() as conn:
        for point in _points(conn, scope):
            for day, kwh, t_min, t_max, pmax in conn.execute(
                    "SELECT day, energy_kwh, t_outdoor_min, t_outdoor_max, power_max_kw FROM substation_daily d "
                    "WHERE device_id = %(device)s AND day >= %(since)s AND EXISTS (SELECT 1 FROM "
                    "unnest(%(starts)s::date[], %(ends)s::date[]) AS p(s, e) WHERE d.day >= p.s AND d.day < p.e) "
                    "ORDER BY day", {"device": point["device_id"], "since": date.today() - timedelta(days=730),
                                     **q.period_arrays(point["periods"])}):
                writer.writerow([point["code"], day.isoformat(), _fr(kwh, 1), _fr(None if t_min is None or t_max is None
                                                                                   else (t_min + t_max) / 2, 1),
                                 _fr(pmax, 1)])
    return Response(("\ufeff" + out.getvalue()).encode(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="ma-consommation.csv"'})


def _fr(value: float | None, places: int) -> str:
    return "" if value is None else f"{value:.{places}f}".replace(".", ",")


@api.get("/invoices")
def api_invoices(db: DbDep, principal: PortalDep, limit: Annotated[int, Query(ge=1, le=100)] = 24,
                 offset: Offset = 0) -> dict[str, Any]:
    """The signed-in subscriber's invoices and credit notes."""
    with db.pool.connection() as conn:
        items, total = q.list_invoices(conn, subscriber_id=_scope(principal), limit=limit, offset=offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@api.get("/invoices/{number}")
def api_invoice(db: DbDep, principal: PortalDep, number: str) -> dict[str, Any]:
    with db.pool.connection() as conn:
        found = q.invoice_detail(conn, number, subscriber_id=_scope(principal))
    if found is None:
        raise HTTPException(404, f"facture {number} inconnue")
    return found


@api.get("/consumption/monthly")
def api_monthly(db: DbDep, principal: PortalDep, point: str | None = None) -> dict[str, Any]:
    """13 months [MWh]: consumption, a year earlier, weather-normalised."""
    with db.pool.connection() as conn:
        return monthly_data(conn, _point(conn, _scope(principal), point))
