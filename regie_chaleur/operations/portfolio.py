"""A subscriber's sites side by side (a landlord's portfolio): each delivery point's heat over the last
twelve full months against the twelve before, raw and weather-corrected, ranked, the drifting ones
flagged.

Two years are compared only when each has at least ``MIN_DAYS`` days measured (330): a few months against
a whole year would compare seasons, not buildings. The raw change then compares mean daily consumptions
(a few days missing, or a contract that began during the year, do not bias it). Weather correction:
consumption per degree day (kWh/DJU), the DJU of a day being max(0, 18 − (Tmin + Tmax) / 2) from the
substation's own outdoor sensor (the "météo" method, base 18 °C);
the corrected change is the ratio of the two years' kWh/DJU. A site drifts when its corrected consumption
rose by more than ``DRIFT`` (10 %). Only the days of the subscriber's own contracts on each point count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg

from billing.periods import add_months

DRIFT = 0.10  # corrected rise beyond which a site is flagged
MIN_DAYS = 330  # days measured in each of the two years for them to be compared (a part of a year has
#                 another mix of seasons: a winter month against a whole year says nothing)


@dataclass(frozen=True)
class SiteYear:
    code: str
    name: str
    address: str | None
    energy_kwh: float | None  # last twelve full months [kWh]
    energy_prev_kwh: float | None  # the twelve before [kWh]
    days: int  # days measured in the last twelve months
    days_prev: int  # in the twelve before
    change: float | None  # raw change of the mean daily consumption (0.05: +5 %)
    corrected_change: float | None  # change of kWh per degree day
    drifting: bool


CACHE_S = 600.0  # [s] a portfolio is read again at most every ten minutes: it rests on whole past months
_cache: dict[tuple[Any, ...], tuple[float, list[SiteYear]]] = {}


def cached_portfolio(conn: psycopg.Connection, points: list[dict[str, Any]], today: date) -> list[SiteYear]:
    """:func:`portfolio`, computed at most every ``CACHE_S`` for the same sites and day (its figures are
    whole past months: only late data could change them meanwhile)."""
    key = (conn.info.dbname, conn.info.host, conn.info.port, today,
           tuple((p["code"], p.get("device_id"), tuple(p["periods"])) for p in points))
    now = time.monotonic()
    hit = _cache.get(key)
    if hit is not None and now - hit[0] < CACHE_S:
        return hit[1]
    if len(_cache) > 256:
        _cache.clear()
    rows = portfolio(conn, points, today)
    _cache[key] = (now, rows)
    return rows


def portfolio(conn: psycopg.Connection, points: list[dict[str, Any]], today: date) -> list[SiteYear]:
    """``points``: the subscriber's delivery points (code, name, address, device_id, periods), ranked by
    corrected change, the largest rise first (sites without data last)."""
    end = today.replace(day=1)
    mid, start = add_months(end, -12), add_months(end, -24)
    rows = [(p["code"], p["device_id"], s, e) for p in points if p.get("device_id") for s, e in p["periods"]]
    figures: dict[tuple[str, bool], tuple[float, float, int]] = {}
    if rows:
        for code, recent, kwh, dju, days in conn.execute(
                """WITH p(code, device_id, s, e) AS (
                       SELECT * FROM unnest(%(codes)s::text[], %(devices)s::bigint[], %(starts)s::date[],
                                            %(ends)s::date[]))
                   SELECT p.code, d.day >= %(mid)s, sum(d.energy_kwh),
                          sum(greatest(0, 18 - (d.t_outdoor_min + d.t_outdoor_max) / 2)), count(*)
                   FROM p JOIN substation_daily d ON d.device_id = p.device_id
                    AND d.day >= greatest(p.s, %(start)s) AND d.day < least(p.e, %(end)s)
                   GROUP BY 1, 2""",
                {"codes": [r[0] for r in rows], "devices": [r[1] for r in rows], "starts": [r[2] for r in rows],
                 "ends": [r[3] for r in rows], "mid": mid, "start": start, "end": end}):
            figures[(code, bool(recent))] = (float(kwh or 0), float(dju or 0), int(days))
    out = []
    for p in points:
        now, before = figures.get((p["code"], True)), figures.get((p["code"], False))
        change = corrected = None
        if now and before and before[0] > 0 and min(now[2], before[2]) >= MIN_DAYS:
            change = (now[0] / now[2]) / (before[0] / before[2]) - 1
            if now[1] > 0 and before[1] > 0:
                corrected = (now[0] / now[1]) / (before[0] / before[1]) - 1
        out.append(SiteYear(p["code"], p["name"], p.get("address"), now[0] if now else None,
                            before[0] if before else None, now[2] if now else 0, before[2] if before else 0,
                            change, corrected,
                            corrected is not None and corrected > DRIFT))
    return sorted(out, key=lambda s: (s.corrected_change is None, -(s.corrected_change or 0), s.code))
