"""Money and quantities as :class:`decimal.Decimal`: built from strings, never from floats.

Rounding happens once, half-up, where the rules say: a line's amount to the cent, a unit price to
the policy's number of decimals, the VAT of a rate on the document total (EN 16931 BR-CO-17).
"""

from __future__ import annotations

from decimal import (
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from fractions import Fraction
from functools import lru_cache

CENT = Decimal("0.01")
KWH = Decimal("1")  # meter indexes and consumptions are billed to the kWh
MWH_PLACES = Decimal("0.001")  # an energy quantity in MWh, to the kWh


def dec(value: str | int | Decimal) -> Decimal:
    """A Decimal from a string, an int or a Decimal; refuses floats (binary rounding errors).

    Raises:
        TypeError: for a float.
        ValueError: for a string that is not a number.
    """
    if isinstance(value, float):
        raise TypeError("money and quantities are built from strings, never from floats")
    if isinstance(value, Decimal):
        return value
    try:
        out = Decimal(value)
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} n'est pas un nombre") from exc
    if not out.is_finite():
        raise ValueError(f"{value!r} n'est pas un nombre fini")
    return out


def round_to(value: Decimal, places: Decimal) -> Decimal:
    """Round half-up to the exponent of ``places`` (e.g. ``CENT``)."""
    return value.quantize(places, rounding=ROUND_HALF_UP)


#: 40 significant digits for products and ratios before the one rounding of an amount (a context of its own:
#: entering a local context for each of a run's hundred thousand products costs more than the product)
_EXACT = Context(prec=40, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])


def cents(value: Decimal) -> Decimal:
    """Round half-up to the cent [€]."""
    return round_to(value, CENT)


def exact_product(*factors: Decimal) -> Decimal:
    """The product of decimals with 40 significant digits (no intermediate rounding)."""
    out = Decimal(1)
    for f in factors:
        out = _EXACT.multiply(out, f)
    return out


def exact_ratio(numerator: Decimal, denominator: Decimal) -> Decimal:
    """``numerator / denominator`` with 40 significant digits (for prorata fractions)."""
    return _EXACT.divide(numerator, denominator)


def kwh_to_mwh(kwh: Decimal) -> Decimal:
    """Energy in MWh to the kWh [MWh] from kWh."""
    return round_to(kwh / 1000, MWH_PLACES)


def cents_exact(*factors: Decimal | Fraction | int) -> Decimal:
    """The exact product of ``factors`` (decimals and fractions such as 1/12, with no intermediate
    rounding) rounded once, half-up, to the cent [€]: 90 kW × 6.45 €/kW/year × 1/12 = 48.375 → 48.38.

    Computed on integers (each factor as numerator/denominator), not with ``Fraction`` objects: a bill
    run makes tens of thousands of these.
    """
    numerator, denominator = 1, 1
    for f in factors:
        n, d = f.as_integer_ratio()
        numerator *= n
        denominator *= d
    negative = (numerator < 0) != (denominator < 0)
    hundredths, rest = divmod(abs(numerator) * 100, abs(denominator))
    if 2 * rest >= abs(denominator):
        hundredths += 1
    return Decimal(-hundredths if negative else hundredths).scaleb(-2).quantize(CENT)


@lru_cache(maxsize=4096)  # a run shows the same few shares of a year for every contract
def fraction_as_decimal(value: Fraction, places: int = 20) -> Decimal:
    """A fraction shown as a decimal with ``places`` decimals (rounded half-up): for display and storage,
    never for computing an amount."""
    with localcontext() as ctx:
        ctx.prec = 60
        return round_to(Decimal(value.numerator) / Decimal(value.denominator), Decimal(1).scaleb(-places))
