"""Public holidays computed from their rules (no data files): France and Germany; school holidays
parsed from the periods a ministry publishes.

Easter Sunday by the anonymous Gregorian algorithm (Meeus/Jones/Butcher); movable feasts follow it.
School holidays vary by zone and year and are decided each year: they come as a CSV of periods
(:func:`parse_school_holidays`), e.g. the French ministry's calendar for zone C (Ivry-sur-Seine).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import date, timedelta

from models.errors import ModelError

SCHOOL_HOLIDAY_COLUMNS = ("start", "end")


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


def parse_school_holidays(text: str, source: str = "school holidays") -> set[date]:
    """The days of the school-holiday periods of a CSV ``start,end[,description]`` (ISO dates, both
    days without school, so inclusive).

    Raises:
        ModelError: naming the file and line of every bad row (a missing column, a date that does not
            parse, an end before its start).
    """
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or any(c not in reader.fieldnames for c in SCHOOL_HOLIDAY_COLUMNS):
        raise ModelError(f"{source}: the header must have the columns {', '.join(SCHOOL_HOLIDAY_COLUMNS)}")
    days: set[date] = set()
    errors = []
    for row in reader:
        parsed = {}
        for column in SCHOOL_HOLIDAY_COLUMNS:
            cell = (row[column] or "").strip()
            try:
                parsed[column] = date.fromisoformat(cell)
            except ValueError:
                errors.append(f"{source}:{reader.line_num}: {column} {cell!r} is not a date (YYYY-MM-DD)")
        if len(parsed) < len(SCHOOL_HOLIDAY_COLUMNS):
            continue
        start, end = parsed["start"], parsed["end"]
        if end < start:
            errors.append(f"{source}:{reader.line_num}: end {end} is before start {start}")
            continue
        days |= {start + timedelta(days=i) for i in range((end - start).days + 1)}
    if errors:
        raise ModelError("; ".join(errors[:20]))
    return days
