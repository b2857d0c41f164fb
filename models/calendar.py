"""Public holidays computed from their rules (no data files): France and Germany.

Easter Sunday by the anonymous Gregorian algorithm (Meeus/Jones/Butcher); movable feasts follow it.
School holidays vary by zone and year: pass them as extra dates (e.g. read from a file).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta


def easter(year: int) -> date:
    """Easter Sunday of ``year`` (Gregorian calendar)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month = (h + ell - 7 * m + 114) // 31
    day = (h + ell - 7 * m + 114) % 31 + 1
    return date(year, month, day)


def public_holidays(years: Iterable[int], country: str = "FR") -> set[date]:
    """Public holidays of ``country`` ("FR" or "DE", federal ones) in ``years``."""
    out: set[date] = set()
    for y in years:
        e = easter(y)
        if country == "FR":
            out |= {date(y, 1, 1), e + timedelta(days=1), date(y, 5, 1), date(y, 5, 8), e + timedelta(days=39),
                    e + timedelta(days=50), date(y, 7, 14), date(y, 8, 15), date(y, 11, 1), date(y, 11, 11),
                    date(y, 12, 25)}
        elif country == "DE":
            out |= {date(y, 1, 1), e - timedelta(days=2), e + timedelta(days=1), date(y, 5, 1),
                    e + timedelta(days=39), e + timedelta(days=50), date(y, 10, 3), date(y, 12, 25), date(y, 12, 26)}
        else:
            raise ValueError(f"unknown country {country!r} (FR or DE)")
    return out
