"""Billing API about what is billed and to whom: meter readings (entered, corrected) and replacements,
contract ends, changes of occupant and final invoices, contracts over several delivery points, category
reductions, the billing policy, closing a tariff version or a VAT period, discarding a simulated run.

Every write is audited under the signed-in account. Indexes in kWh, powers in kW, percentages in %.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from fastapi import APIRouter, HTTPException
from pydantic import AwareDatetime, BaseModel, Field

from billing.meters import PlausibilityWarning, record_reading
from billing.occupancy import add_delivery_point, change_occupant, end_contract
from billing.regie import save_policy, save_reduction
from billing.runs import discard_run
from billing.succession import close_tariff, close_vat_period
from regie_chaleur.deps import ActorDep, DbDep
from regie_chaleur.services.billing import final_invoice
from regie_chaleur.services.meters import replace_meter

router = APIRouter(prefix="/api/v1/billing", tags=["billing"])
Index = Field(ge=0, le=Decimal("9999999999999"), description="[kWh] register index")
Code = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")


class ReadingIn(BaseModel):
    meter: str = Code
    day: date = Field(description="the index stands for 0 h that day (Europe/Paris)")
    index_kwh: Decimal = Index
    kind: Literal["manual", "subscriber", "correction"] = Field(
        description="an agent's reading, the subscriber's own, or an agent's correction of a wrong index")
    reason: str = Field("", max_length=500, description="why (required for a correction)")
    read_at: AwareDatetime | None = Field(None, description="when it was actually read")
    confirm: bool = Field(False, description="save despite plausibility warnings")


class ReadingOut(BaseModel):
    reading_id: int
    at: datetime
    warnings: list[str] = Field(description="plausibility warnings confirmed by the request")


@router.post("/readings", response_model=ReadingOut, status_code=201,
             responses={409: {"description": "plausibility warnings: send again with confirm"}})
def add_reading(db: DbDep, actor: ActorDep, body: ReadingIn) -> ReadingOut:
    """Record a meter index, or correct a wrong one (it then wins over the remote reading). A reading below
    the previous one, or a consumption above the subscribed power × hours, is refused with 409 and its
    warnings until sent again with ``confirm``."""
    with db.pool.connection() as conn:
        try:
            saved = record_reading(conn, body.meter, body.day, body.index_kwh, body.kind, body.reason, actor=actor,
                                   read_at=body.read_at, confirm=body.confirm)
        except PlausibilityWarning as exc:
            raise HTTPException(409, {"message": str(exc), "warnings": exc.warnings}) from exc
    return ReadingOut(reading_id=saved.reading_id, at=saved.at, warnings=list(saved.warnings))


class MeterChangeIn(BaseModel):
    at: AwareDatetime = Field(description="when the meter was replaced")
    old_final_kwh: Decimal = Index
    new_meter: str = Code
    new_initial_kwh: Decimal = Index


@router.post("/delivery-points/{code}/meter-change", status_code=201)
def meter_change(db: DbDep, actor: ActorDep, code: str, body: MeterChangeIn) -> dict[str, int]:
    """Replace a delivery point's meter: the old one's final index, the new one (created when new) and
    its initial index."""
    with db.pool.connection() as conn:
        change = replace_meter(conn, code, body.at, body.old_final_kwh, body.new_meter, body.new_initial_kwh,
                               actor=actor)
    return {"meter_change_id": change}


class ContractEnd(BaseModel):
    last_day: date = Field(description="the last day supplied")


@router.post("/contracts/{number}/end", status_code=204)
def contract_end(db: DbDep, actor: ActorDep, number: str, body: ContractEnd) -> None:
    """End a contract (moving out); refused when an issued invoice billed days after it."""
    with db.pool.connection() as conn:
        end_contract(conn, number, body.last_day, actor=actor)


class NewOccupant(BaseModel):
    last_day: date = Field(description="the leaving occupant's last day; the new contract starts the next day")
    number: str = Code
    subscriber: str = Code
    category: str = Field(min_length=1, max_length=64)
    power_kw: Decimal = Field(gt=0, le=1_000_000, description="[kW] subscribed power")
    frequency: Literal["monthly", "quarterly", "yearly"] = "monthly"
    payment_method: Literal["transfer", "sepa"] = "transfer"
    mandate: str = Field("", max_length=35)


@router.post("/delivery-points/{code}/occupant", status_code=201)
def occupant(db: DbDep, actor: ActorDep, code: str, body: NewOccupant) -> dict[str, int]:
    """Change of occupant on a delivery point: the current contract ends, the next one starts the day
    after, in one transaction."""
    with db.pool.connection() as conn:
        ended, created = change_occupant(conn, code, body.last_day, {
            "number": body.number, "subscriber": body.subscriber, "category": body.category,
            "power_kw": str(body.power_kw), "frequency": body.frequency, "payment_method": body.payment_method,
            "mandate": body.mandate}, actor=actor)
    return {"ended_contract_id": ended, "new_contract_id": created}


@router.post("/contracts/{number}/final-invoice")
def final(db: DbDep, actor: ActorDep, number: str) -> dict[str, object]:
    """The final invoice of an ended contract, issued at once (its run and review list when it cannot be)."""
    with db.pool.connection() as conn:
        result = final_invoice(conn, number, actor=actor)
    run = result.run
    return {"run_id": run.run_id, "status": run.status, "invoice": result.issued.first_number if result.issued
            else None, "exceptions": [{"code": e.code, "message": e.message} for e in run.exceptions],
            "message": run.message}


class PointIn(BaseModel):
    delivery_point: str = Code


@router.post("/contracts/{number}/delivery-points", status_code=204)
def contract_point(db: DbDep, actor: ActorDep, number: str, body: PointIn) -> None:
    """The contract covers one more delivery point (its energy added, one subscribed power)."""
    with db.pool.connection() as conn:
        add_delivery_point(conn, number, body.delivery_point, actor=actor)


class ReductionIn(BaseModel):
    category: str = Field(min_length=1, max_length=64)
    valid_from: date
    valid_to: date | None = Field(None, description="the first day it no longer applies")
    percent: Decimal = Field(gt=0, le=100, description="[%]")
    applies_to: Literal["R1", "R2", "R1R2"]
    deliberation: str = Field(min_length=1, max_length=200)
    label: str = Field("Réduction sociale", min_length=1, max_length=200)


@router.post("/reductions", status_code=201)
def reduction(db: DbDep, actor: ActorDep, body: ReductionIn) -> dict[str, str]:
    """A reduction voted by deliberation for a whole tariff category (never for one subscriber)."""
    with db.pool.connection() as conn:
        save_reduction(conn, body.category, body.valid_from, body.valid_to, body.percent, body.applies_to,
                       body.deliberation, body.label, actor=actor)
    return {"status": "created"}


class PolicyIn(BaseModel):
    r2_proration: Literal["monthly_twelfth", "days_in_year"] = "monthly_twelfth"
    unit_price_places: int = Field(4, ge=2, le=6)
    implausible_factor: Decimal = Field(Decimal("1.5"), ge=1, le=100,
                                        description="a consumption above factor × subscribed power × hours is flagged")
    reading_window_hours: int = Field(24, ge=1, le=168)
    estimation: Literal["degree_days", "recent_average"] = "degree_days"


@router.put("/policy", status_code=204)
@router.put("/policy/{network}", status_code=204)
def policy(db: DbDep, actor: ActorDep, body: PolicyIn, network: str | None = None) -> None:
    """The régie's default billing policy, or a network's own."""
    with db.pool.connection() as conn:
        save_policy(conn, network, {k: str(v) for k, v in body.model_dump().items()}, actor=actor)


class CloseIn(BaseModel):
    valid_to: date = Field(description="the first day it no longer applies")


@router.post("/tariffs/{category}/{valid_from}/close", status_code=204)
def tariff_close(db: DbDep, actor: ActorDep, category: str, valid_from: date, body: CloseIn) -> None:
    """End a tariff version; refused when an issued invoice billed it past the new end (named)."""
    with db.pool.connection() as conn:
        close_tariff(conn, category, valid_from, body.valid_to, actor=actor)


@router.post("/vat-periods/{network}/{valid_from}/close", status_code=204)
def vat_close(db: DbDep, actor: ActorDep, network: str, valid_from: date, body: CloseIn) -> None:
    """End a VAT period; refused when an issued invoice took it past the new end (named)."""
    with db.pool.connection() as conn:
        close_vat_period(conn, network, valid_from, body.valid_to, actor=actor)


@router.delete("/runs/{run_id}", status_code=204)
def discard(db: DbDep, actor: ActorDep, run_id: int) -> None:
    """Throw a simulated run away (drafts and review list); an issued run is never discarded (409)."""
    with db.pool.connection() as conn:
        discard_run(conn, run_id, actor=actor)
