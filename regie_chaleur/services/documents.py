"""Wires the invoice documents and exchanges to the database and to telemetry (13-month consumption).

The EU billing information printed on each invoice comes from here, as plain data: the delivery
point's consumption per month over 13 months (the meter's daily rollups in telemetry, else what was
billed), the same months a year earlier, the weather-normalised figure (degree days of the month
against the mean of that calendar month in the data, for the part above the summer base load), and the
network's published energy mix and CO2 content.
"""

from __future__ import annotations

import calendar
import threading
from collections.abc import Callable
from datetime import date
from decimal import Decimal

import psycopg

from billing.documents.content import Disclosure, DocumentContent, Extras, MonthPoint, read_disclosure
from billing.documents.store import ExtrasProvider, Progress, generate_documents
from billing.model import Period
from billing.money import KWH, round_to
from billing.periods import add_months
from models.degree_days import weather_normalised
from regie_chaleur.services.billing_read import SupplyPeriods, period_arrays, supply_periods
from regie_chaleur.services.weather import degree_days_source

MONTHS = 13


def document_extras(conn: psycopg.Connection) -> ExtrasProvider:
    """The provider of :class:`Extras` for invoices (degree days and disclosures cached across invoices)."""
    dju_of = degree_days_source(conn)
    dju_cache: dict[tuple[str, date], Decimal | None] = {}
    disclosures: dict[tuple[str, int], Disclosure | None] = {}

    def dju(network: str, month: date) -> Decimal | None:
        if (network, month) not in dju_cache:
            dju_cache[(network, month)] = dju_of(network, Period(month, add_months(month, 1)))
        return dju_cache[(network, month)]

    def extras(content: DocumentContent) -> Extras:
        last = content.invoice["period_end"].replace(day=1) if content.invoice["period_end"].day > 1 \
            else add_months(content.invoice["period_end"], -1)
        key = (content.network, content.invoice["period_start"].year)
        if key not in disclosures:
            disclosures[key] = read_disclosure(conn, *key)
        point = content.invoice["buyer"]["delivery_point"]
        periods = supply_periods(conn, content.invoice["subscriber_id"], point)  # never a predecessor's months
        history = monthly_history(conn, point, last, content.network, dju, periods)
        return Extras(history, disclosures[key])

    return extras


def monthly_history(conn: psycopg.Connection, delivery_point: str, last: date, network: str,
                    dju: Callable[[str, date], Decimal | None], periods: SupplyPeriods | None = None
                    ) -> tuple[MonthPoint, ...]:
    """The 13 months ending with ``last``: kWh, kWh a year earlier, weather-normalised kWh; with
    ``periods``, only the days of those periods (a subscriber sees none of another occupant's days)."""
    first = add_months(last, -(MONTHS - 1))
    energy = _monthly_energy(conn, delivery_point, add_months(first, -12), add_months(last, 1), periods)
    if not energy:
        return ()
    months = [add_months(first, i) for i in range(-12, MONTHS)]
    per_day = [energy[m] / _days(m) for m in months if m in energy]
    base_per_day = min(per_day) if per_day else Decimal(0)
    reference: dict[int, list[Decimal]] = {}
    for m in months:
        value = dju(network, m)
        if value is not None:
            reference.setdefault(m.month, []).append(value)
    points = []
    for i in range(MONTHS):
        month = add_months(first, i)
        kwh = energy.get(month)
        normalised = None
        actual_dju = dju(network, month)
        if kwh is not None and actual_dju is not None and reference.get(month.month):
            mean = sum(reference[month.month], Decimal(0)) / len(reference[month.month])
            normalised = round_to(Decimal(repr(weather_normalised(float(kwh), float(base_per_day * _days(month)),
                                                                  float(actual_dju), float(mean)))), KWH)
        points.append(MonthPoint(month, kwh, energy.get(add_months(month, -12)), normalised))
    return tuple(points)


def _days(month: date) -> int:
    return calendar.monthrange(month.year, month.month)[1]


def _covered_days(month: date, periods: SupplyPeriods | None) -> int:
    """Days of ``month`` inside ``periods`` (all of them without periods)."""
    if periods is None:
        return _days(month)
    after = add_months(month, 1)
    return sum(max(0, (min(stop, after) - max(start, month)).days) for start, stop in periods)


def _monthly_energy(conn: psycopg.Connection, delivery_point: str, start: date, end: date,
                    periods: SupplyPeriods | None = None) -> dict[date, Decimal]:
    """kWh per month from the meter's daily rollups (a month with data for 80 % of its days in
    ``periods``); else from the issued invoices' consumptions."""
    params = {"dp": delivery_point, "start": start, "end": end, **period_arrays(periods)}
    rows = conn.execute(
        """SELECT date_trunc('month', d.day)::date, sum(d.energy_kwh), count(*)
           FROM delivery_points dp JOIN meters m ON m.id = dp.meter_id
           JOIN substation_daily d ON d.device_id = m.device_id
           WHERE dp.code = %(dp)s AND d.day >= %(start)s AND d.day < %(end)s AND d.energy_kwh IS NOT NULL
             AND (%(starts)s::date[] IS NULL OR EXISTS (SELECT 1 FROM unnest(%(starts)s::date[], %(ends)s::date[])
                  AS p(s, e) WHERE d.day >= p.s AND d.day < p.e))
           GROUP BY 1""", params).fetchall()
    out = {m: round_to(Decimal(repr(kwh)), KWH) for m, kwh, days in rows
           if days >= 0.8 * _covered_days(m, periods)}
    if out:
        return out
    billed = conn.execute(
        """SELECT i.period_start, (i.readings ->> 'consumption_kwh')::numeric FROM invoices i
           JOIN contracts c ON c.id = i.contract_id JOIN delivery_points dp ON dp.id = c.delivery_point_id
           WHERE dp.code = %(dp)s AND i.kind = 'invoice' AND i.status = 'issued' AND i.period_start >= %(start)s
             AND i.period_end <= %(end)s AND extract(day FROM i.period_start) = 1
             AND i.period_end = (date_trunc('month', i.period_start) + interval '1 month')::date
             AND (%(starts)s::date[] IS NULL OR EXISTS (SELECT 1 FROM unnest(%(starts)s::date[], %(ends)s::date[])
                  AS p(s, e) WHERE i.period_start >= p.s AND i.period_end <= p.e))
             AND NOT EXISTS (SELECT 1 FROM billed_months b WHERE b.invoice_id = i.id AND b.released_by IS NOT NULL)""",
        params).fetchall()
    return {start_day: kwh for start_day, kwh in billed}


def invoices_of_run(conn: psycopg.Connection, run_id: int) -> list[int]:
    """Issued invoices of a run and the credit notes on them."""
    return [r[0] for r in conn.execute(
        """SELECT i.id FROM invoices i LEFT JOIN invoices o ON o.id = i.corrects_invoice_id
           WHERE i.status = 'issued' AND (i.run_id = %(run)s OR o.run_id = %(run)s) ORDER BY i.id""",
        {"run": run_id})]


def generate_run_documents(conn: psycopg.Connection, run_id: int, *, workers: int = 1,
                           progress: Progress | None = None, stop: threading.Event | None = None) -> int:
    """Generate the missing documents of a run (and of the credit notes on its invoices); ``stop`` set
    ends it after the chunk in hand."""
    return generate_documents(conn, invoices_of_run(conn, run_id), document_extras(conn), workers=workers,
                              progress=progress, stop=stop)


def generate_for(conn: psycopg.Connection, numbers: list[str], stop: threading.Event | None = None) -> int:
    """Generate the missing documents of invoices given by number (a credit note and its corrected invoice)."""
    ids = [r[0] for r in conn.execute("SELECT id FROM invoices WHERE number = ANY(%s) AND status = 'issued'",
                                      (numbers,))]
    return generate_documents(conn, ids, document_extras(conn), stop=stop)
