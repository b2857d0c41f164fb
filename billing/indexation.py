"""Indexation of tariff terms: R = R0 × (a + Σ bᵢ × Iᵢ / Iᵢ₀).

For a billing period starting in month m, each component takes the value of its index series for
month m − lag (the formula's lag rule), and only a value published on or before the run's date counts:
a value published later did not exist when the bill was computed. A missing value is an exception for
review (never a silent fallback). The coefficient is computed exactly; the indexed unit price is
rounded once, half-up, to the policy's number of decimals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from billing.errors import ContractException, FieldError
from billing.model import Formula, IndexValue, TariffVersion
from billing.money import exact_product, exact_ratio, round_to
from billing.periods import add_months

WEIGHT_TOLERANCE = Decimal("0.000001")


@dataclass(frozen=True)
class IndexedPrice:
    term: str
    base_price: Decimal  # R0 [€/MWh or €/kW/year]
    unit_price: Decimal  # R, rounded to the policy's decimals
    coefficient: Decimal | None  # a + Σ bᵢ Iᵢ/Iᵢ₀ (None: the term is not indexed)
    values_used: tuple[IndexValue, ...]
    details: dict[str, Any]


def check_formula(formula: Formula) -> list[FieldError]:
    """Problems of a formula's coefficients: a + Σ bᵢ must be 1, weights and bases positive."""
    errors = []
    total = formula.fixed + sum((c.weight for c in formula.components), Decimal(0))
    if abs(total - 1) > WEIGHT_TOLERANCE:
        errors.append(FieldError("weight", f"a + Σ b = {total} pour {formula.term} : la somme doit valoir 1"))
    if formula.fixed < 0:
        errors.append(FieldError("fixed_part", "la partie fixe a ne peut être négative"))
    for c in formula.components:
        if c.weight <= 0:
            errors.append(FieldError("weight", f"poids de {c.series} non positif"))
        if c.base_value <= 0:
            errors.append(FieldError("base_value", f"valeur de base de {c.series} non positive"))
    return errors


def formula_for(formulas: Iterable[Formula], term: str, category: str, day: date) -> Formula | None:
    """The formula of ``term`` valid on ``day``: the category's own before the generic one."""
    valid = [f for f in formulas if f.term == term and f.valid_from <= day and (f.valid_to is None or day < f.valid_to)
             and f.category in (category, None)]
    valid.sort(key=lambda f: (f.category is None, -f.valid_from.toordinal()))
    return valid[0] if valid else None


def indexed_price(tariff: TariffVersion, term: str, formula: Formula | None, period_start: date,
                  values: Mapping[tuple[str, date], IndexValue], run_date: date, places: int) -> IndexedPrice:
    """The indexed unit price of ``term`` for a period starting on ``period_start``.

    Raises:
        ContractException: ``index_missing`` when a value the formula needs is absent or not yet
            published on ``run_date``.
    """
    base = tariff.base_price(term)
    quantum = Decimal(1).scaleb(-places)
    if formula is None:
        return IndexedPrice(term, base, round_to(base, quantum), None, (), {"base_price": str(base)})
    month = add_months(date(period_start.year, period_start.month, 1), -formula.lag_months)
    used: list[IndexValue] = []
    coefficient = formula.fixed
    for c in formula.components:
        value = values.get((c.series, month))
        if value is None or value.published_on > run_date:
            state = "absente" if value is None else f"publiée le {value.published_on:%d/%m/%Y}, après le calcul"
            raise ContractException("index_missing",
                                    f"{term} : valeur de l'indice {c.series} pour {month:%m/%Y} {state} "
                                    f"(formule {formula.id}, décalage {formula.lag_months} mois)")
        coefficient += exact_ratio(exact_product(c.weight, value.value), c.base_value)
        used.append(value)
    price = round_to(exact_product(base, coefficient), quantum)
    details = {
        "base_price": str(base), "formula_id": formula.id, "fixed": str(formula.fixed),
        "lag_months": formula.lag_months, "coefficient": str(round_to(coefficient, Decimal("0.000001"))),
        "components": [{"series": c.series, "weight": str(c.weight), "base_value": str(c.base_value),
                        "month": v.month.isoformat(), "value": str(v.value), "published_on": v.published_on.isoformat()}
                       for c, v in zip(formula.components, used, strict=True)],
    }
    return IndexedPrice(term, base, price, coefficient, tuple(used), details)
