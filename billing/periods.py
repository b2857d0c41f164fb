"""Billing periods and calendar arithmetic: months, run periods per frequency, Paris boundaries,
R2 prorata.

A run is named by a month (``2026-10``). A monthly contract is billed for that month; a quarterly one
in the runs of March, June, September and December for its calendar quarter; a yearly one in the
December run for the calendar year. Period boundaries are local midnights in Europe/Paris (the meter
reading of 1 October 00:00 Paris time closes September), converted to UTC instants.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, time
from fractions import Fraction
from functools import lru_cache
from zoneinfo import ZoneInfo

from billing.model import Frequency, Period

PARIS = ZoneInfo("Europe/Paris")
MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(text: str) -> date:
    """``YYYY-MM`` to the first day of that month.

    Raises:
        ValueError: in French, naming the value.
    """
    m = MONTH_RE.match(text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"mois « {text} » invalide (attendu AAAA-MM)")
    return date(int(m.group(1)), int(m.group(2)), 1)


def add_months(day: date, months: int) -> date:
    """The first day of the month ``months`` after ``day``'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_period(first: date) -> Period:
    return Period(first, add_months(first, 1))


def run_period(frequency: Frequency, run_month: date) -> Period | None:
    """The period a contract of ``frequency`` is billed for in the run of ``run_month`` (None: not in it)."""
    if frequency == "monthly":
        return month_period(run_month)
    if frequency == "quarterly":
        return Period(add_months(run_month, -2), add_months(run_month, 1)) if run_month.month % 3 == 0 else None
    return Period(date(run_month.year, 1, 1), date(run_month.year + 1, 1, 1)) if run_month.month == 12 else None


def months_of(period: Period) -> list[date]:
    """First days of the calendar months ``period`` touches."""
    out, month = [], date(period.start.year, period.start.month, 1)
    while month < period.end:
        out.append(month)
        month = add_months(month, 1)
    return out


def boundary(day: date) -> datetime:
    """The UTC instant of local midnight (Europe/Paris) starting ``day``."""
    return datetime.combine(day, time(0), PARIS).astimezone(UTC)


def hours_in(period: Period) -> int:
    """Hours of a period in Europe/Paris (23 or 25 on the days the clocks change)."""
    return int((boundary(period.end) - boundary(period.start)).total_seconds() // 3600)


@lru_cache(maxsize=4096)  # a run asks the same few periods for every contract
def r2_prorata(period: Period, method: str) -> tuple[Fraction, str]:
    """The share of a year that ``period`` represents for an annual R2 price (an exact fraction: 1/12 is
    1/12, not 0.0833...), and how it was computed.

    ``monthly_twelfth``: each calendar month counts 1/12, a partial month its days over the month's
    days; ``days_in_year``: days over the days of their calendar year (365 or 366).
    """
    share, parts = Fraction(0), []
    if method == "monthly_twelfth":
        for month in months_of(period):
            days_in_month = calendar.monthrange(month.year, month.month)[1]
            covered = period.intersect(Period(month, add_months(month, 1))) or Period(month, month)
            share += Fraction(covered.days, 12 * days_in_month)
            parts.append("1/12" if covered.days == days_in_month else f"{covered.days}/{days_in_month} × 1/12")
    elif method == "days_in_year":
        year = period.start.year
        while date(year, 1, 1) < period.end:
            in_year = period.intersect(Period(date(year, 1, 1), date(year + 1, 1, 1)))
            if in_year is not None:
                days = 366 if calendar.isleap(year) else 365
                share += Fraction(in_year.days, days)
                parts.append(f"{in_year.days}/{days}")
            year += 1
    else:
        raise ValueError(f"mode de prorata R2 inconnu : {method}")
    return share, " + ".join(parts)
