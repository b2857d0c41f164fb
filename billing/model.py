"""The billing domain as plain, immutable data: what the computation takes and what it returns.

Units: energy in kWh (meter indexes, consumptions) and MWh (R1 quantities), power in kW, R1 in €/MWh,
R2 terms in €/kW/year, VAT rates and percentages in % (5.5 means 5.5 %), money in € (Decimal).
Dates are calendar dates in Europe/Paris; a period's ``end`` is exclusive; instants are UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal

R2_TERMS = ("R21", "R22", "R23", "R24")
TERMS = ("R1", *R2_TERMS)
TERM_LABELS = {
    "R1": "R1 – énergie consommée",
    "R21": "R21 – électricité de production et de distribution",
    "R22": "R22 – conduite et petit entretien",
    "R23": "R23 – gros entretien et renouvellement",
    "R24": "R24 – financement des installations",
}
ReadingKind = Literal["actual", "manual", "subscriber", "correction", "estimated"]
READING_KIND_LABELS = {"actual": "relevé (télérelève)", "manual": "relevé (agent)", "subscriber": "auto-relevé",
                       "correction": "index corrigé",
                       "estimated": "estimé"}
Frequency = Literal["monthly", "quarterly", "yearly"]
LineKind = Literal["R1", "R21", "R22", "R23", "R24", "reduction", "regularisation"]


@dataclass(frozen=True)
class Period:
    """Calendar days [start, end) in Europe/Paris."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def overlaps(self, other: Period) -> bool:
        return self.start < other.end and other.start < self.end

    def intersect(self, other: Period) -> Period | None:
        start, end = max(self.start, other.start), min(self.end, other.end)
        return Period(start, end) if start < end else None

    def label(self) -> str:
        return _period_label(self.start, self.end)

    @property
    def last(self) -> date:
        """The period's last day (inclusive)."""
        return date.fromordinal(self.end.toordinal() - 1)


@lru_cache(maxsize=4096)  # a run labels the same few periods for every contract
def _period_label(start: date, end: date) -> str:
    return f"du {start:%d/%m/%Y} au {date.fromordinal(end.toordinal() - 1):%d/%m/%Y}"


@dataclass(frozen=True)
class TariffVersion:
    """Base prices of a tariff category over [valid_from, valid_to), set by a deliberation."""

    id: int
    category: str
    valid_from: date
    valid_to: date | None
    r1: Decimal  # [€/MWh] excl. VAT
    r2: dict[str, Decimal]  # R21..R24 [€/kW/year] excl. VAT
    deliberation: str

    def base_price(self, term: str) -> Decimal:
        return self.r1 if term == "R1" else self.r2[term]

    @property
    def period(self) -> Period:
        return Period(self.valid_from, self.valid_to or date.max)


@dataclass(frozen=True)
class Component:
    series: str
    weight: Decimal  # b_i
    base_value: Decimal  # I_i0


@dataclass(frozen=True)
class Formula:
    """R = R0 × (fixed + Σ weight × I / I0), the value of month m − lag applying to month m."""

    id: int
    term: str
    category: str | None  # None: every category
    valid_from: date
    valid_to: date | None
    fixed: Decimal  # a
    components: tuple[Component, ...]
    lag_months: int


@dataclass(frozen=True)
class IndexValue:
    series: str
    month: date  # first day of the month the value is for
    value: Decimal
    published_on: date


@dataclass(frozen=True)
class VatPeriod:
    """VAT of one network over [valid_from, valid_to): rates follow the renewable-and-recovered share."""

    network: str
    valid_from: date
    valid_to: date | None
    renewable_share_pct: Decimal
    rate_r1_pct: Decimal
    rate_r2_pct: Decimal
    justification: str


@dataclass(frozen=True)
class Reduction:
    """A reduction decided by deliberation for a whole tariff category (never for one subscriber)."""

    category: str
    valid_from: date
    valid_to: date | None
    percent: Decimal
    applies_to: Literal["R1", "R2", "R1R2"]
    deliberation: str
    label: str


@dataclass(frozen=True)
class PowerStep:
    valid_from: date
    power_kw: Decimal  # [kW] subscribed power from that day on


@dataclass(frozen=True)
class Contract:
    """A police d'abonnement, as billing needs it. ``end`` is the last day supplied (inclusive)."""

    id: int
    number: str
    subscriber_id: int
    delivery_point_id: int
    network: str
    category: str
    start: date
    end: date | None
    frequency: Frequency
    powers: tuple[PowerStep, ...]
    extra_points: tuple[int, ...] = ()  # other delivery points it covers (energies summed, one power)

    @property
    def points(self) -> tuple[int, ...]:
        """Every delivery point of the contract, its main one first."""
        return (self.delivery_point_id, *self.extra_points)

    @property
    def supplied(self) -> Period:
        """Days supplied: [start, end + 1 day)."""
        return Period(self.start, date.fromordinal(self.end.toordinal() + 1) if self.end else date.max)


@dataclass(frozen=True)
class IndexReading:
    """A meter's energy register [kWh] at an instant (UTC)."""

    at: datetime
    index_kwh: Decimal
    kind: ReadingKind
    meter: str  # meter code


@dataclass(frozen=True)
class MeterChange:
    """A meter replaced at ``at``: the old one's last index, the new one's first."""

    at: datetime
    old_meter: str
    old_final_kwh: Decimal
    new_meter: str
    new_initial_kwh: Decimal


@dataclass(frozen=True)
class PreviousBilling:
    """Where the contract's latest issued (and not cancelled) invoice ended."""

    invoice_number: str
    end: IndexReading
    r1_unit_price: Decimal | None  # [€/MWh] of its R1 line, for a regularisation
    r1_vat_rate: Decimal | None  # [%]


@dataclass(frozen=True)
class EstimationBasis:
    """What an estimate of a period's consumption can be built from (None: not available)."""

    last_year_kwh: Decimal | None = None  # same period a year earlier [kWh]
    dju_period: Decimal | None = None  # degree days of the period [K·day]
    dju_last_year: Decimal | None = None  # degree days of the same period a year earlier [K·day]
    recent_kwh_per_day: Decimal | None = None  # the contract's recent average [kWh/day]


@dataclass(frozen=True)
class MeterInputs:
    """The readings and meter events around one billing period of one delivery point."""

    register_capacity_kwh: Decimal | None
    start_reading: IndexReading | None  # best non-estimated reading at the period's start
    end_reading: IndexReading | None  # best non-estimated reading at the period's end
    changes: tuple[MeterChange, ...] = ()
    previous: PreviousBilling | None = None
    estimation: EstimationBasis = field(default_factory=EstimationBasis)


@dataclass(frozen=True)
class Policy:
    """The network's billing rules where no national rule decides (its règlement de service)."""

    r2_proration: Literal["monthly_twelfth", "days_in_year"] = "monthly_twelfth"
    unit_price_places: int = 4  # decimals of an indexed unit price
    payment_terms_days: int = 30
    implausible_factor: Decimal = Decimal("1.5")  # consumption above factor × subscribed power × hours
    reading_window_hours: int = 24  # a register sample counts as the boundary's reading up to this much before
    estimation: Literal["degree_days", "recent_average"] = "degree_days"  # a missing end index is estimated so


@dataclass(frozen=True)
class BilledR2:
    """An R2 line already issued: the subscribed power billed [kW] over its days, at its price and VAT
    rate (a later change of that power is regularised on the next invoice)."""

    term: str
    period: Period
    kw: Decimal  # [kW] (a regularisation line carries the difference)
    unit_price: Decimal  # [€/kW/year]
    vat_rate: Decimal  # [%]
    invoice: str


@dataclass(frozen=True)
class Line:
    """One invoice line; ``amount`` [€ excl. VAT] is rounded once, half-up, to the cent."""

    kind: LineKind
    label: str
    quantity: Decimal  # MWh for R1 and regularisation, kW for R2 terms, 1 for a reduction
    unit: str
    unit_price: Decimal  # €/MWh, €/kW/year, or the reduction's amount
    prorata: Decimal  # share of a year for R2 lines, 1 otherwise
    prorata_label: str
    amount: Decimal
    vat_rate: Decimal  # [%]
    period: Period
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VatTotal:
    rate: Decimal  # [%]
    base: Decimal  # [€] sum of the lines at this rate
    vat: Decimal  # [€] base × rate, rounded once on the document


@dataclass(frozen=True)
class Totals:
    by_rate: tuple[VatTotal, ...]
    total_ht: Decimal
    total_vat: Decimal
    total_ttc: Decimal


@dataclass(frozen=True)
class Draft:
    """A computed invoice for one contract and period, not yet numbered."""

    contract: Contract
    period: Period  # the days billed (the run's period cut to the contract's supply)
    lines: tuple[Line, ...]
    totals: Totals
    readings: dict[str, Any]  # start/end indexes with their kind, segments, estimate method
    warnings: tuple[str, ...]  # messages of non-blocking exceptions (e.g. an estimated reading)
    index_values_used: frozenset[tuple[str, date]]
    tariff_ids_used: frozenset[int]
