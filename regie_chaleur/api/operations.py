"""Operations API: network overview, substations, series, KPIs, alarms, audit. Thin routes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from regie_chaleur.deps import ActorDep, Day, DbDep, Instant, Offset, check_span
from regie_chaleur.operations import alarms as alarm_ops
from regie_chaleur.operations.kpis import (
    network_balance,
    resolution_for,
    substation_daily_kpis,
    substation_series,
)
from regie_chaleur.operations.live import network_summary, substation_statuses
from regie_chaleur.operations.monthly import monthly_kpis
from regie_chaleur.operations.signatures import subscribed_power_audit

router = APIRouter(prefix="/api/v1", tags=["operations"])
MAX_DAYS = 3700  # [days] the longest period a KPI or balance query covers (ten years)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="items matching, over all pages")
    limit: int
    offset: int


class SubstationOut(BaseModel):
    code: str
    name: str
    network: str
    status: Literal["online", "offline", "invalid", "alarm"] = Field(
        description="offline: no device answered within the comm_lost threshold (3 poll intervals by default); "
                    "invalid: answers, but no valid value within it; alarm: open alarms; online otherwise")
    last_seen: datetime | None = Field(description="the last good reading (dernière mesure)")
    last_answer: datetime | None = Field(description="the last answer of any device, valid or not")
    stale: bool = Field(description="the values are older than the offline threshold: not current")
    t_supply_primary: float | None = Field(description="[°C] at the last good reading")
    t_return_primary: float | None = Field(description="[°C] at the last good reading, flow-weighted over meters")
    delta_t: float | None = Field(description="[K] primary supply minus return, at the last good reading")
    power_kw: float | None = Field(description="[kW] at the last good reading, summed over the meters")
    subscribed_power_kw: float | None = Field(description="[kW] sum over the substation's delivery points")
    open_alarms: int


class Overview(BaseModel):
    at: datetime
    substations: int
    online: int = Field(description="answering with valid values (with or without open alarms)")
    offline: int = Field(description="no answer (pas de réponse)")
    invalid: int = Field(description="answering, but no valid value (données invalides)")
    load_kw: float | None = Field(description="[kW] sum of the current power of the substations with fresh values")
    t_supply_primary: float | None = Field(description="[°C] mean over the substations with fresh values")
    t_return_primary: float | None = Field(description="[°C] mean over the substations with fresh values")
    open_alarms: dict[str, int] = Field(description="open alarms by severity")
    losses_yesterday_mwh: float | None = Field(description="[MWh] production minus deliveries")
    losses_yesterday_pct: float | None = Field(description="[%] of production")


class SeriesPoint(BaseModel):
    t: datetime | date
    t_supply_primary: float | None = Field(None, description="[°C] flow-weighted over the meters (hours, days)")
    t_return_primary: float | None = Field(None, description="[°C] flow-weighted over the meters (hours, days)")
    t_supply_secondary: float | None = Field(None, description="[°C]")
    t_return_secondary: float | None = Field(None, description="[°C]")
    t_outdoor: float | None = Field(None, description="[°C]")
    flow: float | None = Field(None, description="[m³/h] summed over the meters (hours)")
    power: float | None = Field(None, description="[kW] summed over the meters (hours, days)")
    valve_position: float | None = Field(None, description="[%]")
    delta_t: float | None = Field(None, description="[K] flow-weighted primary ΔT: Σ q·(Ts − Tr) / Σ q over the "
                                                     "samples with flow, supply and return good")
    energy_kwh: float | None = Field(None, description="[kWh] in the bucket, from the meter register")


class Series(BaseModel):
    code: str
    resolution: Literal["raw", "hour", "day"]
    points: list[SeriesPoint]


class AlarmOut(BaseModel):
    id: int
    substation: str | None
    device: str | None
    rule: str
    severity: str
    state: str
    message: str
    value: float | None
    threshold: float | None
    raised_at: datetime
    last_seen_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_comment: str | None
    cleared_at: datetime | None


class AlarmAction(BaseModel):
    comment: str = Field("", max_length=2000, description="why (kept in the alarm's history)")


@router.get("/network/overview", response_model=Overview)
def overview(db: DbDep) -> Overview:
    """Live tiles: substations online/offline, load, temperatures, open alarms, yesterday's losses."""
    now = datetime.now(UTC)
    with db.pool.connection() as conn:
        statuses, total = substation_statuses(conn, now, limit=100_000)
        by_severity: dict[str, int] = dict(conn.execute(
            "SELECT severity, count(*) FROM alarms WHERE state <> 'cleared' GROUP BY 1").fetchall())
        yesterday = (now - timedelta(days=1)).date()
        balance = network_balance(conn, yesterday, yesterday)
    summary = network_summary(statuses)
    return Overview(at=now, substations=total, online=summary["online"], offline=summary["offline"],
                    invalid=summary["invalid"], load_kw=summary["load_kw"], t_supply_primary=summary["t_supply"],
                    t_return_primary=summary["t_return"],
                    open_alarms={k: int(v) for k, v in by_severity.items()},
                    losses_yesterday_mwh=balance.losses_mwh if balance.production_mwh else None,
                    losses_yesterday_pct=balance.losses_pct)


@router.get("/substations", response_model=Page[SubstationOut])
def list_substations(db: DbDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                     offset: Offset = 0,
                     search: Annotated[str | None, Query(max_length=100)] = None) -> Page[SubstationOut]:
    """Substations with their live status, paginated, ordered by code."""
    with db.pool.connection() as conn:
        items, total = substation_statuses(conn, datetime.now(UTC), limit=limit, offset=offset, search=search)
    return Page[SubstationOut](items=[SubstationOut(**s.__dict__) for s in items], total=total, limit=limit,
                               offset=offset)


def _known_substation(db: Any, code: str) -> None:
    with db.pool.connection() as conn:
        if conn.execute("SELECT 1 FROM substations WHERE code = %s", (code,)).fetchone() is None:
            raise HTTPException(404, f"sous-station inconnue : {code}")


@router.get("/substations/{code}/series", response_model=Series)
def series(db: DbDep, code: str, start: Instant, end: Instant,
           resolution: Literal["auto", "raw", "hour", "day"] = "auto") -> Series:
    """One substation's series over [start, end); ``auto`` picks raw (≤ 2 days), hour (≤ 62 days) or day."""
    if end <= start:
        raise HTTPException(422, "la fin doit suivre le début")
    _known_substation(db, code)
    chosen = resolution_for(start, end) if resolution == "auto" else resolution
    with db.pool.connection() as conn:
        rows = substation_series(conn, code, start, end, chosen)
    return Series(code=code, resolution=chosen, points=[SeriesPoint(**r) for r in rows])


class DailyKpiOut(BaseModel):
    day: date
    energy_kwh: float | None = Field(description="[kWh] from the meter registers")
    volume_m3: float | None = Field(description="[m³] from the meter registers")
    kwh_per_m3: float | None = Field(description="[kWh/m³] cooling indicator (energy ÷ volume)")
    power_max_kw: float | None = Field(
        description="[kW] peak: the highest hourly mean of the summed power of a substation's meters; the "
                    "highest power read by a delivery point's meter")
    t_return_fw: float | None = Field(description="[°C] flow-weighted primary return: Σ q·Tr / Σ q")
    delta_t: float | None = Field(description="[K] flow-weighted primary ΔT: Σ q·(Ts − Tr) / Σ q over the samples "
                                              "with flow, supply and return good (≈ energy ÷ volume ÷ 1.163)")
    dju: float | None = Field(description="[K·day] degree days (COSTIC, base 18 °C)")
    t_supply_fw: float | None = Field(description="[°C] flow-weighted primary supply")


class MonthlyKpiOut(BaseModel):
    month: date = Field(description="first day of the Europe/Paris month")
    energy_kwh: float = Field(description="[kWh]")
    dju: float = Field(description="[K·day] degree days of the month")
    dju_reference: float = Field(description="[K·day] mean DJU of this calendar month over the history")
    normalised_kwh: float = Field(description="[kWh] energy as if the month had the reference weather")
    volume_m3: float | None = Field(description="[m³]")
    kwh_per_m3: float | None = Field(description="[kWh/m³] cooling indicator")
    delta_t: float | None = Field(description="[K] flow-weighted primary ΔT of the month")
    t_return_fw: float | None = Field(description="[°C] flow-weighted primary return of the month")
    power_max_kw: float | None = Field(description="[kW] the month's highest daily peak (definition as daily)")


def _known_point(db: Any, code: str) -> None:
    with db.pool.connection() as conn:
        if conn.execute("SELECT 1 FROM delivery_points WHERE code = %s", (code,)).fetchone() is None:
            raise HTTPException(404, f"point de livraison inconnu : {code}")


@router.get("/substations/{code}/kpis", response_model=list[DailyKpiOut])
def kpis(db: DbDep, code: str, first: Day, last: Day) -> list[dict[str, Any]]:
    """Daily KPIs (Europe/Paris days) of a substation, its meters combined (flows and powers summed)."""
    check_span(first, last, MAX_DAYS)
    _known_substation(db, code)
    with db.pool.connection() as conn:
        return [k.__dict__ for k in substation_daily_kpis(conn, code, first, last)]


@router.get("/delivery-points/{code}/kpis", response_model=list[DailyKpiOut])
def delivery_point_kpis(db: DbDep, code: str, first: Day, last: Day) -> list[dict[str, Any]]:
    """Daily KPIs of one delivery point (its heat meter)."""
    check_span(first, last, MAX_DAYS)
    _known_point(db, code)
    with db.pool.connection() as conn:
        return [k.__dict__ for k in substation_daily_kpis(conn, code, first, last, scope="delivery_point")]


@router.get("/substations/{code}/monthly", response_model=list[MonthlyKpiOut])
def monthly(db: DbDep, code: str, first: Day, last: Day) -> list[dict[str, Any]]:
    """Monthly KPIs of a substation: energy, volume, kWh/m³, flow-weighted ΔT and return, peak power,
    degree days and weather-normalised energy (months starting in [first, last])."""
    check_span(first, last, MAX_DAYS)
    _known_substation(db, code)
    with db.pool.connection() as conn:
        return [k.__dict__ for k in monthly_kpis(conn, code, first, last)]


@router.get("/delivery-points/{code}/monthly", response_model=list[MonthlyKpiOut])
def delivery_point_monthly(db: DbDep, code: str, first: Day, last: Day) -> list[dict[str, Any]]:
    """Monthly KPIs of one delivery point (its heat meter), as for a substation."""
    check_span(first, last, MAX_DAYS)
    _known_point(db, code)
    with db.pool.connection() as conn:
        return [k.__dict__ for k in monthly_kpis(conn, code, first, last, scope="delivery_point")]


@router.get("/network/balance")
def balance(db: DbDep, first: Day, last: Day, network: str | None = None) -> dict[str, Any]:
    """Production (plant meters) against deliveries over Europe/Paris days, of one network or all:
    losses [MWh, %], flow-weighted return of its substations [°C], peak load (highest hourly sum of its
    delivery power) [kW]."""
    check_span(first, last, MAX_DAYS)
    with db.pool.connection() as conn:
        return network_balance(conn, first, last, network).__dict__


ALARM_SQL = """SELECT a.id, s.code, d.code, a.rule, a.severity, a.state, a.message, a.value, a.threshold,
                      a.raised_at, a.last_seen_at, a.acknowledged_at, a.acknowledged_by, a.ack_comment, a.cleared_at
               FROM alarms a LEFT JOIN substations s ON s.id = a.substation_id LEFT JOIN devices d ON d.id = a.device_id
               WHERE (%(state)s::text IS NULL OR a.state = %(state)s OR (%(state)s = 'open' AND a.state <> 'cleared'))
                 AND (%(rule)s::text IS NULL OR a.rule = %(rule)s)
                 AND (%(sub)s::text IS NULL OR s.code = %(sub)s)"""


@router.get("/alarms", response_model=Page[AlarmOut])
def list_alarms(db: DbDep, state: Literal["open", "raised", "acknowledged", "cleared"] | None = None,
                rule: str | None = None, substation: str | None = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                offset: Offset = 0) -> Page[AlarmOut]:
    """Alarms, newest first, filtered by state (``open`` = raised or acknowledged), rule, substation."""
    params = {"state": state, "rule": rule, "sub": substation}
    with db.pool.connection() as conn:
        total = conn.execute(f"SELECT count(*) FROM ({ALARM_SQL}) x", params).fetchone()  # noqa: S608
        rows = conn.execute(ALARM_SQL + " ORDER BY a.raised_at DESC, a.id DESC LIMIT %(limit)s OFFSET %(offset)s",
                            {**params, "limit": limit, "offset": offset}).fetchall()
    names = list(AlarmOut.model_fields)
    return Page[AlarmOut](items=[AlarmOut(**dict(zip(names, r, strict=True))) for r in rows],
                          total=int(total[0]) if total else 0, limit=limit, offset=offset)


@router.post("/alarms/{alarm_id}/acknowledge", status_code=204)
def acknowledge_alarm(db: DbDep, actor: ActorDep, alarm_id: int, action: AlarmAction) -> None:
    """raised → acknowledged by the signed-in user (409 if the alarm is not raised)."""
    with db.pool.connection() as conn:
        try:
            alarm_ops.acknowledge(conn, alarm_id, actor, action.comment, datetime.now(UTC))
        except alarm_ops.AlarmStateError as exc:
            raise HTTPException(409, str(exc)) from exc


@router.post("/alarms/{alarm_id}/clear", status_code=204)
def clear_alarm(db: DbDep, actor: ActorDep, alarm_id: int, action: AlarmAction) -> None:
    """raised/acknowledged → cleared by the signed-in user (409 if already cleared or unknown)."""
    with db.pool.connection() as conn:
        try:
            alarm_ops.clear(conn, alarm_id, actor, action.comment, datetime.now(UTC))
        except alarm_ops.AlarmStateError as exc:
            raise HTTPException(409, str(exc)) from exc


@router.get("/audit/subscribed-power")
def audit(db: DbDep, first: Day, last: Day,
          design_outdoor_c: Annotated[float, Query(ge=-40, le=10)] = -7.0) -> list[dict[str, Any]]:
    """Weather-corrected measured peak against subscribed power, per delivery point, with the evidence."""
    check_span(first, last, MAX_DAYS)
    with db.pool.connection() as conn:
        return [line.__dict__ for line in subscribed_power_audit(conn, first, last, design_outdoor_c)]
