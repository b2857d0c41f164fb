"""Reads of the billing tables into the domain dataclasses (bulk: one query per kind for a whole run).

Readings at a period boundary are the rows of ``meter_readings`` stamped at that boundary (the
application writes there what telemetry held at or just before it, and agents or subscribers enter
theirs): an agent's reading first, then the remote one, then the subscriber's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg

from billing.errors import BillingError
from billing.model import (
    R2_TERMS,
    BilledR2,
    Component,
    Contract,
    Formula,
    IndexReading,
    IndexValue,
    MeterChange,
    Period,
    Policy,
    PowerStep,
    PreviousBilling,
    Reduction,
    TariffVersion,
    VatPeriod,
)

KIND_PRIORITY = {"correction": -1, "manual": 0, "actual": 1, "subscriber": 2}  # a correction wins


def read_policy(conn: psycopg.Connection, network: str | None = None) -> Policy:
    """The billing policy of ``network`` (its own when it has one, else the régie's default)."""
    policies = read_policies(conn)
    return policies.get(network) or policies[None]


def read_policies(conn: psycopg.Connection) -> dict[str | None, Policy]:
    """The default policy (key None) and each network's own."""
    out: dict[str | None, Policy] = {None: Policy()}
    for network, proration, places, factor, window, estimation in conn.execute(
            "SELECT NULL, r2_proration, unit_price_places, implausible_factor, reading_window_hours, estimation "
            "FROM billing_policy UNION ALL SELECT network, r2_proration, unit_price_places, implausible_factor, "
            "reading_window_hours, estimation FROM network_billing_policies"):
        out[network] = Policy(r2_proration=proration, unit_price_places=int(places), implausible_factor=Decimal(factor),
                              reading_window_hours=int(window), estimation=estimation)
    return out


def read_issuer(conn: psycopg.Connection) -> dict[str, Any]:
    """The régie's identity (the seller of every invoice).

    Raises:
        BillingError: when it has not been configured.
    """
    cur = conn.execute("SELECT * FROM billing_issuer")
    row = cur.fetchone()
    if row is None:
        raise BillingError("l'émetteur des factures (la régie) n'est pas configuré : "
                           "`regie-chaleur bill issuer FICHIER.yaml`")
    names = [c.name for c in cur.description or []]
    out = dict(zip(names, row, strict=True))
    out.pop("id")
    return out


def read_contracts(conn: psycopg.Connection, overlapping: Period, ids: Sequence[int] | None = None) -> list[Contract]:
    """Contracts supplying at least one day of ``overlapping`` (optionally only ``ids``), by number."""
    rows = conn.execute(
        """SELECT c.id, c.number, c.subscriber_id, c.delivery_point_id, s.network, c.category, c.start_date,
                  c.end_date, c.frequency,
                  array_agg(p.valid_from ORDER BY p.valid_from) FILTER (WHERE p.valid_from IS NOT NULL),
                  array_agg(p.power_kw ORDER BY p.valid_from) FILTER (WHERE p.valid_from IS NOT NULL),
                  (SELECT array_agg(x.delivery_point_id ORDER BY x.delivery_point_id) FROM contract_delivery_points x
                   WHERE x.contract_id = c.id)
           FROM contracts c JOIN delivery_points dp ON dp.id = c.delivery_point_id
           JOIN substations s ON s.id = dp.substation_id
           LEFT JOIN contract_powers p ON p.contract_id = c.id
           WHERE c.start_date < %(end)s AND (c.end_date IS NULL OR c.end_date >= %(start)s)
             AND (%(ids)s::bigint[] IS NULL OR c.id = ANY(%(ids)s))
           GROUP BY c.id, s.network ORDER BY c.number""",
        {"start": overlapping.start, "end": overlapping.end, "ids": list(ids) if ids is not None else None},
    ).fetchall()
    return [Contract(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8],
                     tuple(PowerStep(d, kw) for d, kw in zip(r[9] or [], r[10] or [], strict=True)),
                     tuple(r[11] or ())) for r in rows]


def read_billed_r2(conn: psycopg.Connection, contract_ids: Sequence[int]) -> dict[int, list[BilledR2]]:
    """Per contract, the R2 lines of its issued invoices not cancelled by a full credit note."""
    out: dict[int, list[BilledR2]] = defaultdict(list)
    for contract_id, kind, start, end, kw, price, rate, number in conn.execute(
            """SELECT i.contract_id, l.kind, l.period_start, l.period_end, l.quantity, l.unit_price, l.vat_rate,
                      i.number FROM invoices i JOIN invoice_lines l ON l.invoice_id = i.id
               WHERE i.contract_id = ANY(%s) AND i.kind = 'invoice' AND i.status = 'issued'
                 AND l.kind IN ('R21', 'R22', 'R23', 'R24')
                 AND NOT EXISTS (SELECT 1 FROM billed_months b WHERE b.invoice_id = i.id AND b.released_by IS NOT NULL)
               ORDER BY i.contract_id, l.period_start""", (list(contract_ids),)):
        out[int(contract_id)].append(BilledR2(kind, Period(start, end), kw, price, rate, number))
    return out


def read_tariffs(conn: psycopg.Connection) -> list[TariffVersion]:
    rows = conn.execute("SELECT id, category, valid_from, valid_to, r1_eur_mwh, r21_eur_kw_year, r22_eur_kw_year, "
                        "r23_eur_kw_year, r24_eur_kw_year, deliberation FROM tariffs ORDER BY category, valid_from")
    return [TariffVersion(r[0], r[1], r[2], r[3], r[4], dict(zip(R2_TERMS, r[5:9], strict=True)), r[9]) for r in rows]


def read_formulas(conn: psycopg.Connection) -> list[Formula]:
    rows = conn.execute(
        """SELECT f.id, f.term, f.category, f.valid_from, f.valid_to, f.fixed_part, f.lag_months,
                  array_agg(c.series ORDER BY c.series), array_agg(c.weight ORDER BY c.series),
                  array_agg(c.base_value ORDER BY c.series)
           FROM indexation_formulas f JOIN indexation_components c ON c.formula_id = f.id
           GROUP BY f.id ORDER BY f.id""").fetchall()
    return [Formula(r[0], r[1], r[2], r[3], r[4], r[5],
                    tuple(Component(s, w, b) for s, w, b in zip(r[7], r[8], r[9], strict=True)), r[6]) for r in rows]


def read_index_values(conn: psycopg.Connection) -> dict[tuple[str, date], IndexValue]:
    rows = conn.execute("SELECT series, month, value, published_on FROM index_values")
    return {(r[0], r[1]): IndexValue(r[0], r[1], r[2], r[3]) for r in rows}


def read_vat_periods(conn: psycopg.Connection) -> list[VatPeriod]:
    rows = conn.execute("SELECT network, valid_from, valid_to, renewable_share_pct, rate_r1_pct, rate_r2_pct, "
                        "justification FROM vat_periods ORDER BY network, valid_from")
    return [VatPeriod(*r) for r in rows]


def read_reductions(conn: psycopg.Connection) -> list[Reduction]:
    rows = conn.execute("SELECT category, valid_from, valid_to, percent, applies_to, deliberation, label "
                        "FROM category_reductions ORDER BY category, valid_from")
    return [Reduction(*r) for r in rows]


def read_billed_months(conn: psycopg.Connection, contract_ids: Sequence[int], months: Sequence[date]
                       ) -> set[tuple[int, date]]:
    """(contract, month) pairs already billed by an issued invoice that no credit note released."""
    rows = conn.execute("SELECT contract_id, month FROM billed_months WHERE released_by IS NULL "
                        "AND contract_id = ANY(%s) AND month = ANY(%s)", (list(contract_ids), list(months)))
    return {(r[0], r[1]) for r in rows}


def read_previous_billing(conn: psycopg.Connection, starts: dict[int, date]) -> dict[int, PreviousBilling]:
    """Per contract, where its latest issued, not cancelled invoice ending by the given start date ended
    (index and R1 price)."""
    rows = conn.execute(
        """SELECT DISTINCT ON (i.contract_id) i.contract_id, i.number, i.readings -> 'end',
                  r1.unit_price, r1.vat_rate
           FROM unnest(%s::bigint[], %s::date[]) AS s(contract_id, start)
           JOIN invoices i ON i.contract_id = s.contract_id AND i.period_end <= s.start
           LEFT JOIN LATERAL (SELECT unit_price, vat_rate FROM invoice_lines l
                              WHERE l.invoice_id = i.id AND l.kind = 'R1' ORDER BY l.line_no DESC LIMIT 1) r1 ON true
           WHERE i.kind = 'invoice' AND i.status = 'issued'
             AND NOT EXISTS (SELECT 1 FROM billed_months b WHERE b.invoice_id = i.id AND b.released_by IS NOT NULL)
           ORDER BY i.contract_id, i.period_end DESC, i.id DESC""",
        (list(starts), list(starts.values()))).fetchall()
    out = {}
    for contract_id, number, end, price, rate in rows:
        out[contract_id] = PreviousBilling(number, _reading(end), price, rate)
    return out


def _reading(data: dict[str, Any]) -> IndexReading:
    return IndexReading(datetime.fromisoformat(data["at"]), Decimal(data["index_kwh"]), data["kind"], data["meter"])


def read_consumption_history(conn: psycopg.Connection, contract_ids: Sequence[int], since: date
                             ) -> dict[int, list[tuple[date, date, Decimal]]]:
    """Per contract, (period start, period end, kWh) of its issued, not cancelled invoices since ``since``."""
    rows = conn.execute(
        """SELECT i.contract_id, i.period_start, i.period_end, (i.readings ->> 'consumption_kwh')::numeric
           FROM invoices i WHERE i.kind = 'invoice' AND i.status = 'issued' AND i.contract_id = ANY(%s)
             AND i.period_end > %s
             AND NOT EXISTS (SELECT 1 FROM billed_months b WHERE b.invoice_id = i.id AND b.released_by IS NOT NULL)
           ORDER BY i.contract_id, i.period_start""", (list(contract_ids), since)).fetchall()
    out: dict[int, list[tuple[date, date, Decimal]]] = defaultdict(list)
    for contract_id, start, end, kwh in rows:
        out[contract_id].append((start, end, kwh))
    return out


def read_meters(conn: psycopg.Connection, delivery_point_ids: Iterable[int]
                ) -> dict[int, tuple[str, Decimal | None, list[MeterChange]]]:
    """Per delivery point: its current meter's code, register capacity [kWh] and its meter changes."""
    ids = list(delivery_point_ids)
    current = conn.execute(
        "SELECT dp.id, m.code, m.register_capacity_kwh FROM delivery_points dp JOIN meters m ON m.id = dp.meter_id "
        "WHERE dp.id = ANY(%s)", (ids,)).fetchall()
    changes: dict[int, list[MeterChange]] = defaultdict(list)
    for dp, at, old, old_final, new, new_initial in conn.execute(
            """SELECT c.delivery_point_id, c.at, o.code, c.old_final_kwh, n.code, c.new_initial_kwh
               FROM meter_changes c JOIN meters o ON o.id = c.old_meter_id JOIN meters n ON n.id = c.new_meter_id
               WHERE c.delivery_point_id = ANY(%s) ORDER BY c.at""", (ids,)):
        changes[dp].append(MeterChange(at, old, old_final, new, new_initial))
    return {dp: (code, capacity, changes[dp]) for dp, code, capacity in current}


def meter_at(current: str, changes: Sequence[MeterChange], at: datetime) -> str:
    """The code of the meter installed at instant ``at`` (a change at ``at`` has already happened)."""
    for change in reversed(changes):
        if change.at <= at:
            return change.new_meter
    return changes[0].old_meter if changes else current


def read_boundary_readings(conn: psycopg.Connection, meter_codes: Sequence[str], instants: Sequence[datetime]
                           ) -> dict[tuple[str, datetime], IndexReading]:
    """The best non-estimated reading of each meter at each instant: agent's, then remote, then subscriber's."""
    rows = conn.execute(
        """SELECT m.code, r.at, r.index_kwh, r.kind FROM meter_readings r JOIN meters m ON m.id = r.meter_id
           WHERE m.code = ANY(%s) AND r.at = ANY(%s)""", (list(meter_codes), list(instants))).fetchall()
    best: dict[tuple[str, datetime], IndexReading] = {}
    for code, at, index, kind in rows:
        key = (code, at)
        if key not in best or KIND_PRIORITY[kind] < KIND_PRIORITY[best[key].kind]:
            best[key] = IndexReading(at, index, kind, code)
    return best
