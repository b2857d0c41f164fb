"""Field operations API for operators: work orders (``/api/v1/work-orders``), the on-call rota
(``/api/v1/on-call``) and outages (``/api/v1/outages``). Thin routes over :mod:`regie_chaleur.field`;
a refused value answers 422, a move the state forbids 409, an unknown object 404, each with a French
``detail``."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from regie_chaleur.deps import ActorDep, Day, DbDep, Instant, MailerDep, Offset
from regie_chaleur.field import notices, oncall, orders, outages

router = APIRouter(prefix="/api/v1", tags=["field operations"])
PlaceKind = Literal["substation", "plant", "network_section"]


def _now() -> datetime:
    return datetime.now(UTC)


class OrderIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    kind: Literal["repair", "preventive", "works"] = "repair"
    priority: Literal["urgent", "high", "normal", "low"] = "normal"
    place_kind: PlaceKind = "substation"
    place_code: str = Field(min_length=1, max_length=64)
    team: str = Field("", max_length=100)
    planned_for: Day | None = None
    description: str = Field("", max_length=4000)
    alarm_id: int | None = Field(None, description="an alarm this order answers")


class OrderOut(BaseModel):
    id: int
    title: str
    kind: str
    priority: str
    status: Literal["to_plan", "planned", "in_progress", "done", "cancelled"]
    origin: str
    substation: str | None
    plant: str | None
    network_section: str | None
    team: str
    planned_for: date | None
    started_at: datetime | None
    finished_at: datetime | None
    time_spent_min: int = Field(description="[min] time spent so far")
    proof_status: Literal["pending", "verified", "no_effect", "insufficient"] | None = Field(
        description="proof of repair of an order closed on a substation")
    proof: dict[str, Any] | None = Field(None, description="the evidence: indicators before/after, daily series")
    created_at: datetime
    created_by: str


class OrderDetail(OrderOut):
    events: list[dict[str, Any]]
    parts: list[dict[str, Any]]
    alarms: list[dict[str, Any]]


class StatusIn(BaseModel):
    status: Literal["to_plan", "planned", "in_progress", "done", "cancelled"]
    comment: str = Field("", max_length=4000)
    planned_for: Day | None = None


class WorkIn(BaseModel):
    minutes: int | None = Field(None, ge=1, le=1440, description="[min] time spent to add")
    part: str | None = Field(None, max_length=200)
    quantity: Decimal | None = Field(None, gt=0, lt=100000, decimal_places=2)
    unit: str = Field("u", max_length=20)
    note: str | None = Field(None, max_length=4000)


@router.get("/work-orders", response_model=list[OrderOut])
def list_work_orders(db: DbDep, status: Annotated[str, Query(max_length=20)] = "open",
                     kind: Annotated[str, Query(max_length=20)] = "",
                     substation: Annotated[str, Query(max_length=64)] = "",
                     limit: Annotated[int, Query(ge=1, le=500)] = 100, offset: Offset = 0) -> list[dict[str, Any]]:
    """Orders, newest first; ``status``: open (default), closed, one status, or empty for all."""
    with db.pool.connection() as conn:
        return orders.list_orders(conn, status=status, kind=kind, substation=substation, limit=limit,
                                  offset=offset)[0]


@router.post("/work-orders", response_model=OrderDetail, status_code=201)
def create_work_order(body: OrderIn, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    with db.pool.connection() as conn:
        order_id = orders.create_order(conn, title=body.title, kind=body.kind, priority=body.priority,
                                       place=(body.place_kind, body.place_code), by=actor, now=_now(), team=body.team,
                                       planned_for=body.planned_for, description=body.description,
                                       alarm_id=body.alarm_id, origin="alarm" if body.alarm_id else "manual")
        return orders.read_order(conn, order_id)


@router.post("/work-orders/from-alarm/{alarm_id}", response_model=OrderDetail)
def work_order_from_alarm(alarm_id: int, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """The order answering an alarm (created when it has none)."""
    with db.pool.connection() as conn:
        return orders.read_order(conn, orders.order_from_alarm(conn, alarm_id, actor, _now()))


@router.get("/work-orders/{order_id}", response_model=OrderDetail)
def get_work_order(order_id: int, db: DbDep) -> dict[str, Any]:
    with db.pool.connection() as conn:
        return orders.read_order(conn, order_id)


@router.post("/work-orders/{order_id}/status", response_model=OrderDetail)
def move_work_order(order_id: int, body: StatusIn, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    with db.pool.connection() as conn:
        orders.set_status(conn, order_id, body.status, actor, _now(), body.comment, body.planned_for)
        return orders.read_order(conn, order_id)


@router.post("/work-orders/{order_id}/work", response_model=OrderDetail)
def record_work(order_id: int, body: WorkIn, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Time spent, a part used and/or a note, on an open order."""
    now = _now()
    with db.pool.connection() as conn:
        if body.minutes is not None:
            orders.add_time(conn, order_id, body.minutes, actor, now)
        if body.part is not None:
            orders.add_part(conn, order_id, body.part, body.quantity or Decimal("1"), body.unit, actor, now)
        if body.note is not None:
            orders.add_note(conn, order_id, body.note, actor, now)
        return orders.read_order(conn, order_id)


class PersonOut(BaseModel):
    id: int
    name: str
    email: str | None
    phone: str | None


class PersonIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    email: str = Field("", max_length=200)
    phone: str = Field("", max_length=20)


class WeekOut(BaseModel):
    week_start: date = Field(description="Monday; the week runs from Monday 00:00 Europe/Paris")
    ranks: dict[int, PersonOut] = Field(description="rank (1 paged first) → person")


class OnCallOut(BaseModel):
    at: datetime
    on_duty: dict[int, PersonOut]
    weeks: list[WeekOut]
    people: list[PersonOut]


class ShiftIn(BaseModel):
    ranks: dict[int, int | None] = Field(description="rank (1-5) → person id, or null for nobody")


@router.get("/on-call", response_model=OnCallOut)
def get_on_call(db: DbDep, weeks: Annotated[int, Query(ge=1, le=53)] = 8) -> dict[str, Any]:
    """Who is on call now, the rota of the coming weeks and the people who can be called."""
    now = _now()
    with db.pool.connection() as conn:
        return {"at": now, "on_duty": oncall.on_duty(conn, now),
                "weeks": [{"week_start": w, "ranks": r} for w, r in oncall.rota(conn, now.date(), weeks)],
                "people": oncall.people(conn)}


@router.post("/on-call/people", response_model=PersonOut, status_code=201)
def add_on_call_person(body: PersonIn, db: DbDep) -> dict[str, Any]:
    with db.pool.connection() as conn:
        person_id = oncall.add_person(conn, body.name, body.email, body.phone)
        return next(asdict(p) for p in oncall.people(conn) if p.id == person_id)


@router.put("/on-call/weeks/{week}", response_model=WeekOut)
def set_on_call_week(week: Day, body: ShiftIn, db: DbDep) -> dict[str, Any]:
    """Set who is on call, by rank, the week containing ``week``."""
    with db.pool.connection() as conn, conn.transaction():
        for rank, person in body.ranks.items():
            oncall.assign(conn, week, rank, person)
        monday, ranks = oncall.rota(conn, week, 1)[0]
        return {"week_start": monday, "ranks": ranks}


class OutageIn(BaseModel):
    kind: Literal["planned", "unplanned"]
    title: str = Field(min_length=1, max_length=200)
    place_kind: PlaceKind = "network_section"
    place_code: str = Field(min_length=1, max_length=64)
    start: Instant | None = Field(None, description="planned: required, in the future; unplanned: default now")
    end: Instant | None = Field(None, description="planned outages: when heat is back")
    estimated_return: Instant | None = Field(None, description="unplanned outages: estimated return time")
    notice_days: int = Field(7, ge=0, le=60, description="planned: days before the start the notices go")
    reason: str = Field("", max_length=2000)
    alarm_id: int | None = None


@router.get("/outages")
def list_outages_api(db: DbDep, current: bool = False) -> list[dict[str, Any]]:
    """Outages (``current``: only those not over), the coming and running first."""
    with db.pool.connection() as conn:
        return outages.list_outages(conn, _now(), current_only=current)


@router.post("/outages", status_code=201)
def declare_outage_api(body: OutageIn, db: DbDep, actor: ActorDep, mailer: MailerDep) -> dict[str, Any]:
    """Declare an outage: what it cuts is computed from the registry; the notices already due go at once."""
    now = _now()
    with db.pool.connection() as conn:
        outage_id = outages.declare_outage(
            conn, kind=body.kind, title=body.title, place=(body.place_kind, body.place_code),
            start=body.start or now, by=actor, now=now, end=body.end, estimated_return=body.estimated_return,
            notice_days=body.notice_days, reason=body.reason, alarm_id=body.alarm_id)
        notices.send_notices(conn, now, mailer)
        return outages.read_outage(conn, outage_id)


@router.get("/outages/{outage_id}")
def get_outage(outage_id: int, db: DbDep) -> dict[str, Any]:
    """An outage with the substations it cuts and the notices sent."""
    with db.pool.connection() as conn:
        return outages.read_outage(conn, outage_id)


@router.post("/outages/{outage_id}/end", status_code=204)
def end_outage_api(outage_id: int, db: DbDep) -> None:
    with db.pool.connection() as conn:
        outages.end_outage(conn, outage_id, _now())


@router.post("/outages/{outage_id}/cancel", status_code=204)
def cancel_outage_api(outage_id: int, db: DbDep, actor: ActorDep) -> None:
    with db.pool.connection() as conn:
        outages.cancel_outage(conn, outage_id, actor, _now())
