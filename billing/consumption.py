"""From meter readings to the energy of a billing period [kWh].

- **Start index**: the index the contract's previous invoice ended on (the billed chain is never
  broken); for a first invoice, the reading at the period's start. When the previous invoice ended on an
  *estimated* index and an actual reading of that instant has arrived since (a replayed collector
  buffer, an agent's reading), the difference is a **regularisation** billed at the previous invoice's
  R1 price, and the period starts from the actual index. Without such a reading the period starts from
  the estimate, and the next actual reading regularises it within the period's own consumption.
- **End index**: the reading at the period's end (actual, agent or subscriber-provided), else an
  **estimate**: the same period a year earlier corrected by degree days, else the contract's recent
  daily average times the days; no basis at all is an exception for review.
- **Meter replacement**: the old meter counts up to its final index, the new one from its initial index.
- **Rollover**: a register that went backwards by more than half its capacity wrapped around: the
  capacity is added. Anything else that goes backwards is a negative consumption: an exception, never
  billed; so is a consumption above ``implausible_factor`` × the subscribed power × the period's hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from billing import fr
from billing.errors import ContractException
from billing.model import READING_KIND_LABELS, IndexReading, MeterChange, MeterInputs, Policy
from billing.money import KWH, exact_product, exact_ratio, round_to

PARIS = ZoneInfo("Europe/Paris")


@dataclass(frozen=True)
class Segment:
    """Consumption on one meter between two of its indexes [kWh]."""

    meter: str
    start_kwh: Decimal
    end_kwh: Decimal
    kwh: Decimal
    rollover: bool


@dataclass(frozen=True)
class Regularisation:
    """An estimated index billed before, now replaced by the actual reading of the same instant."""

    kwh: Decimal  # actual − estimated [kWh], either sign
    estimated: IndexReading
    actual: IndexReading
    unit_price: Decimal  # [€/MWh] R1 of the invoice that billed the estimate
    vat_rate: Decimal  # [%] its VAT rate
    previous_invoice: str


@dataclass(frozen=True)
class Consumption:
    kwh: Decimal
    start: IndexReading
    end: IndexReading
    segments: tuple[Segment, ...]
    estimate_method: str | None
    regularisation: Regularisation | None
    warnings: tuple[str, ...]

    def summary(self) -> dict[str, Any]:
        """What the invoice shows of its readings (stored with it)."""
        def reading(r: IndexReading) -> dict[str, Any]:
            return {"at": r.at.isoformat(), "index_kwh": str(r.index_kwh), "kind": r.kind, "meter": r.meter,
                    "kind_label": READING_KIND_LABELS[r.kind]}
        out: dict[str, Any] = {
            "start": reading(self.start), "end": reading(self.end), "consumption_kwh": str(self.kwh),
            "segments": [{"meter": s.meter, "start_kwh": str(s.start_kwh), "end_kwh": str(s.end_kwh),
                          "kwh": str(s.kwh), "rollover": s.rollover} for s in self.segments],
            "estimate_method": self.estimate_method,
        }
        if self.regularisation is not None:
            reg = self.regularisation
            out["regularisation"] = {"kwh": str(reg.kwh), "estimated": reading(reg.estimated),
                                     "actual": reading(reg.actual), "previous_invoice": reg.previous_invoice}
        return out


def compute_consumption(meter: MeterInputs, start_at: datetime, end_at: datetime, days: int, hours: int,
                        max_power_kw: Decimal | None, policy: Policy) -> Consumption:
    """The energy of the period [start_at, end_at) of one delivery point.

    Args:
        days, hours: the period's length (for an estimate and the plausibility ceiling).
        max_power_kw: the highest subscribed power in the period [kW] (None: no ceiling).

    Raises:
        ContractException: missing start reading, no basis for an estimate, a meter that does not match,
            a negative or implausible consumption.
    """
    warnings: list[str] = []
    start, regularisation = _start_index(meter, start_at)
    if regularisation is not None:
        warnings.append(f"régularisation de l'index estimé de la facture {regularisation.previous_invoice} "
                        f"({'+' if regularisation.kwh >= 0 else '−'}{fr.number(abs(regularisation.kwh))} kWh)")
    changes = sorted((c for c in meter.changes if start_at <= c.at < end_at), key=lambda c: c.at)
    segments: list[Segment] = []
    current = start
    for change in changes:
        if change.old_meter != current.meter:
            raise ContractException("meter_mismatch",
                                    f"remplacement du {fr.day(change.at)} : ancien compteur {change.old_meter}, "
                                    f"mais l'index de début est celui de {current.meter}")
        segments.append(_segment(current.meter, current.index_kwh, change.old_final_kwh, meter.register_capacity_kwh))
        current = IndexReading(change.at, change.new_initial_kwh, "actual", change.new_meter)
    done = sum((s.kwh for s in segments), Decimal(0))
    estimate_method = None
    if meter.end_reading is not None:
        end = meter.end_reading
        if end.meter != current.meter:
            raise ContractException("meter_mismatch", f"l'index de fin est celui du compteur {end.meter}, "
                                                      f"le compteur en place est {current.meter}")
        segments.append(_segment(current.meter, current.index_kwh, end.index_kwh, meter.register_capacity_kwh))
    else:
        total, estimate_method = estimate(meter, days)
        remaining = max(Decimal(0), total - done)
        end_index = current.index_kwh + remaining
        if meter.register_capacity_kwh is not None and end_index >= meter.register_capacity_kwh:
            end_index -= meter.register_capacity_kwh
        end = IndexReading(end_at, end_index, "estimated", current.meter)
        segments.append(Segment(current.meter, current.index_kwh, end_index, remaining,
                                end_index < current.index_kwh))
        warnings.append(f"index de fin estimé : {estimate_method}")
    kwh = sum((s.kwh for s in segments), Decimal(0))
    if any(s.rollover for s in segments):
        warnings.append("passage à zéro du compteur pris en compte")
    if max_power_kw is not None and max_power_kw > 0:
        ceiling = exact_product(policy.implausible_factor, max_power_kw, Decimal(hours))
        if kwh > ceiling:
            raise ContractException("implausible_consumption",
                                    f"consommation de {fr.number(kwh)} kWh sur {hours} h, au-delà de "
                                    f"{fr.number(policy.implausible_factor)} × {fr.number(max_power_kw)} kW "
                                    f"souscrits ({fr.number(round_to(ceiling, KWH))} kWh) : saut à vérifier")
    return Consumption(kwh, start, end, tuple(segments), estimate_method, regularisation, tuple(warnings))


def _start_index(meter: MeterInputs, start_at: datetime) -> tuple[IndexReading, Regularisation | None]:
    previous = meter.previous
    if previous is not None and previous.end.at == start_at:
        billed = previous.end
        actual = meter.start_reading
        if billed.kind == "estimated" and actual is not None and actual.kind != "estimated" \
                and actual.meter == billed.meter:
            if previous.r1_unit_price is None or previous.r1_vat_rate is None:
                raise ContractException("regularisation_without_price",
                                        f"la facture {previous.invoice_number} n'a pas de ligne R1 à régulariser")
            return actual, Regularisation(actual.index_kwh - billed.index_kwh, billed, actual, previous.r1_unit_price,
                                          previous.r1_vat_rate, previous.invoice_number)
        return billed, None
    if meter.start_reading is None:
        raise ContractException("missing_start_reading",
                                f"aucun index au {start_at.astimezone(PARIS):%d/%m/%Y à %H:%M} pour commencer "
                                "la période "
                                "(relevé d'ouverture à saisir)")
    return meter.start_reading, None


def _segment(meter: str, start: Decimal, end: Decimal, capacity: Decimal | None) -> Segment:
    if end >= start:
        return Segment(meter, start, end, end - start, False)
    if capacity is not None and end + capacity - start <= capacity / 2:
        return Segment(meter, start, end, end + capacity - start, True)
    raise ContractException("negative_consumption",
                            f"compteur {meter} : index {fr.number(end)} kWh inférieur à l'index de début "
                            f"{fr.number(start)} kWh "
                            "(consommation négative, à vérifier)")


def estimate(meter: MeterInputs, days: int) -> tuple[Decimal, str]:
    """An estimated consumption [kWh] and how it was made (French, shown on the invoice).

    Raises:
        ContractException: ``missing_reading`` when neither basis is available.
    """
    basis = meter.estimation
    if (basis.last_year_kwh is not None and basis.dju_period is not None and basis.dju_last_year is not None
            and basis.dju_last_year > 0):
        value = round_to(exact_ratio(exact_product(basis.last_year_kwh, basis.dju_period), basis.dju_last_year), KWH)
        return value, (f"même période l'an dernier ({fr.number(basis.last_year_kwh)} kWh) × degrés-jours "
                       f"{fr.number(basis.dju_period)} / {fr.number(basis.dju_last_year)}")
    if basis.recent_kwh_per_day is not None:
        value = round_to(exact_product(basis.recent_kwh_per_day, Decimal(days)), KWH)
        return value, f"moyenne récente ({fr.number(round_to(basis.recent_kwh_per_day, KWH))} kWh/jour) × {days} jours"
    raise ContractException("missing_reading", "index de fin manquant et aucune base d'estimation "
                                               "(ni même période l'an dernier, ni historique récent)")


def change_summary(change: MeterChange) -> dict[str, str]:
    return {"at": change.at.isoformat(), "old_meter": change.old_meter, "old_final_kwh": str(change.old_final_kwh),
            "new_meter": change.new_meter, "new_initial_kwh": str(change.new_initial_kwh)}
