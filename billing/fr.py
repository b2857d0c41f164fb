"""French formats for what billing staff and subscribers read: 1 234,56 €, 1 234,567 MWh, 25/11/2026.

Thousands are separated by a narrow no-break space (U+202F) and the euro sign by a no-break space, as
CLDR's fr-FR locale does. Dates and month names come from Babel's CLDR data; numbers are formatted by
Python's exact decimal formatting with fr-FR's separators (a bill run formats tens of thousands of them,
and Babel re-reads its pattern for each: a test checks both give the same text).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal

LOCALE = "fr_FR"
PARIS = ZoneInfo("Europe/Paris")


def number(value: Decimal | int | float, places: int | None = None, max_places: int = 6) -> str:
    """``1 234,5`` (``places``: exactly that many decimals; else as many as needed, up to ``max_places``),
    rounded half-even like CLDR."""
    exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    text = f"{exact:,.{max_places if places is None else places}f}"
    if places is None and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(",", "\u202f").replace(".", ",")


def eur(value: Decimal) -> str:
    """``1 234,56 €``."""
    return f"{number(value, 2)}\u00a0€"


def reference_number(value: Decimal, places: int | None = None, max_places: int = 6) -> str:
    """The same as :func:`number`, through Babel (slow; for tests)."""
    pattern = "#,##0" + ("." + "0" * places if places else "" if places == 0 else "." + "#" * max_places)
    return str(format_decimal(value, format=pattern, locale=LOCALE))


def reference_eur(value: Decimal) -> str:
    return str(format_currency(value, "EUR", locale=LOCALE))


def day(value: date | datetime) -> str:
    """``25/11/2026`` (an instant is shown as its Europe/Paris date)."""
    if isinstance(value, datetime):
        value = value.astimezone(PARIS).date()
    return value.strftime("%d/%m/%Y")


def long_day(value: date) -> str:
    """``25 novembre 2026``."""
    return str(format_date(value, format="long", locale=LOCALE))


@lru_cache(maxsize=1024)
def month(value: date) -> str:
    """``octobre 2026`` (remembered: a page lists the same months again and again)."""
    return str(format_date(value, format="LLLL y", locale=LOCALE))


def short_month(value: date) -> str:
    """``oct. 2026`` (chart labels)."""
    return str(format_date(value, format="LLL y", locale=LOCALE))


def percent(value: Decimal) -> str:
    """``5,5 %``."""
    return f"{number(value)}\u00a0%"
