"""Wires billing's tables to the API and the web pages (read models): runs, invoices, subscribers, contracts.

Every function that returns a subscriber's data takes ``subscriber_id``: None for staff (everything),
a subscriber's id for the subscriber portal (only theirs; someone else's object is "not found").
Money stays :class:`~decimal.Decimal`.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import psycopg


def _dicts(cur: psycopg.Cursor) -> list[dict[str, Any]]:
    names = [c.name for c in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def list_runs(conn: psycopg.Connection, limit: int = 50) -> list[dict[str, Any]]:
    return _dicts(conn.execute(
        """SELECT id, month, status, run_date, created_by, simulated_at, issued_at, issued_by, contracts, invoices,
                  exceptions, total_ht, total_ttc FROM bill_runs ORDER BY month DESC, id DESC LIMIT %s""", (limit,)))


def list_invoices(conn: psycopg.Connection, *, subscriber_id: int | None = None, run_id: int | None = None,
                  kind: str | None = None, status: str | None = "issued", search: str | None = None,
                  limit: int = 50, offset: int = 0, point: str | None = None,
                  month: date | None = None) -> tuple[list[dict[str, Any]], int]:
    """A page of invoices and credit notes, newest first, and how many match (``point``: of one delivery
    point; ``month``: whose period starts in that month)."""
    where = """WHERE (%(sub)s::bigint IS NULL OR i.subscriber_id = %(sub)s)
                 AND (%(run)s::bigint IS NULL OR i.run_id = %(run)s)
                 AND (%(point)s::text IS NULL OR dp.code = %(point)s)
                 AND (%(month)s::date IS NULL OR date_trunc('month', i.period_start) = %(month)s)
                 AND (%(kind)s::text IS NULL OR i.kind = %(kind)s)
                 AND (%(status)s::text IS NULL OR i.status = %(status)s)
                 AND (%(q)s::text IS NULL OR i.number ILIKE %(q)s OR s.name ILIKE %(q)s OR c.number ILIKE %(q)s)"""
    params = {"sub": subscriber_id, "run": run_id, "kind": kind, "status": status, "point": point, "month": month,
              "q": f"%{search}%" if search else None, "limit": limit, "offset": offset}
    base = ("FROM invoices i JOIN subscribers s ON s.id = i.subscriber_id JOIN contracts c ON c.id = i.contract_id "
            "JOIN delivery_points dp ON dp.id = c.delivery_point_id ")
    total = conn.execute("SELECT count(*) " + base + where, params).fetchone()
    rows = _dicts(conn.execute(
        "SELECT i.id, i.number, i.kind, i.status, i.period_start, i.period_end, i.issue_date, i.due_date, "
        "i.total_ht, i.total_vat, i.total_ttc, i.run_id, s.code AS subscriber, s.name AS subscriber_name, "
        "c.number AS contract, dp.code AS delivery_point, dp.name AS delivery_point_name, "
        "(SELECT number FROM invoices o WHERE o.id = i.corrects_invoice_id) AS corrects "
        + base + where + " ORDER BY i.issued_at DESC NULLS LAST, i.id DESC LIMIT %(limit)s OFFSET %(offset)s",
        params))
    return rows, int(total[0]) if total else 0


def invoice_detail(conn: psycopg.Connection, number: str, subscriber_id: int | None = None) -> dict[str, Any] | None:
    """An issued invoice or credit note with its lines, VAT and credit notes; None when unknown or not
    the subscriber's."""
    found = _dicts(conn.execute(
        """SELECT i.*, (SELECT number FROM invoices o WHERE o.id = i.corrects_invoice_id) AS corrects,
                  c.number AS contract
           FROM invoices i JOIN contracts c ON c.id = i.contract_id
           WHERE i.number = %s AND (%s::bigint IS NULL OR i.subscriber_id = %s)""",
        (number, subscriber_id, subscriber_id)))
    if not found:
        return None
    invoice = found[0]
    invoice["lines"] = _dicts(conn.execute(
        "SELECT line_no, kind, label, quantity, unit, unit_price, prorata, prorata_label, amount_ht, vat_rate, "
        "period_start, period_end, details FROM invoice_lines WHERE invoice_id = %s ORDER BY line_no",
        (invoice["id"],)))
    invoice["vat"] = _dicts(conn.execute("SELECT rate, base, vat FROM invoice_vat WHERE invoice_id = %s ORDER BY rate",
                                         (invoice["id"],)))
    invoice["credit_notes"] = [r[0] for r in conn.execute(
        "SELECT number FROM invoices WHERE corrects_invoice_id = %s ORDER BY id", (invoice["id"],))]
    return invoice


def list_subscribers(conn: psycopg.Connection, search: str | None = None, limit: int = 50, offset: int = 0
                     ) -> tuple[list[dict[str, Any]], int]:
    params = {"q": f"%{search}%" if search else None, "limit": limit, "offset": offset}
    where = " WHERE (%(q)s::text IS NULL OR s.code ILIKE %(q)s OR s.name ILIKE %(q)s OR s.siren ILIKE %(q)s)"
    total = conn.execute("SELECT count(*) FROM subscribers s" + where, params).fetchone()
    rows = _dicts(conn.execute(
        "SELECT s.id, s.code, s.name, s.siren, s.siret, s.city, s.email, s.public_entity, "
        "(SELECT count(*) FROM contracts c WHERE c.subscriber_id = s.id) AS contracts FROM subscribers s"
        + where + " ORDER BY s.name LIMIT %(limit)s OFFSET %(offset)s", params))
    return rows, int(total[0]) if total else 0


def subscriber_detail(conn: psycopg.Connection, subscriber_id: int) -> dict[str, Any] | None:
    found = _dicts(conn.execute("SELECT * FROM subscribers WHERE id = %s", (subscriber_id,)))
    if not found:
        return None
    subscriber = found[0]
    subscriber["contracts"] = list_contracts(conn, subscriber_id=subscriber_id)[0]
    subscriber["mandates"] = _dicts(conn.execute(
        "SELECT id, reference, signed_on, iban, bic, status, status_reason, first_collected_on FROM sepa_mandates "
        "WHERE subscriber_id = %s ORDER BY signed_on", (subscriber_id,)))
    return subscriber


def list_contracts(conn: psycopg.Connection, *, subscriber_id: int | None = None, search: str | None = None,
                   limit: int = 500, offset: int = 0, point: str | None = None) -> tuple[list[dict[str, Any]], int]:
    params = {"sub": subscriber_id, "q": f"%{search}%" if search else None, "limit": limit, "offset": offset,
              "point": point}
    where = """ WHERE (%(sub)s::bigint IS NULL OR c.subscriber_id = %(sub)s)
                AND (%(point)s::text IS NULL OR dp.code = %(point)s)
                AND (%(q)s::text IS NULL OR c.number ILIKE %(q)s OR s.name ILIKE %(q)s OR dp.code ILIKE %(q)s)"""
    base = (" FROM contracts c JOIN subscribers s ON s.id = c.subscriber_id "
            "JOIN delivery_points dp ON dp.id = c.delivery_point_id JOIN tariff_categories tc ON tc.code = c.category "
            "LEFT JOIN meters m ON m.id = dp.meter_id")
    total = conn.execute("SELECT count(*)" + base + where, params).fetchone()
    rows = _dicts(conn.execute(
        "SELECT c.id, c.number, c.category, tc.label AS category_label, c.start_date, c.end_date, c.frequency, "
        "c.payment_method, s.id AS subscriber_id, s.code AS subscriber, s.name AS subscriber_name, "
        "dp.code AS delivery_point, dp.name AS delivery_point_name, dp.address AS delivery_point_address, "
        "m.code AS meter, (SELECT power_kw FROM contract_powers p WHERE p.contract_id = c.id "
        "ORDER BY valid_from DESC LIMIT 1) AS power_kw" + base + where
        + " ORDER BY c.number LIMIT %(limit)s OFFSET %(offset)s", params))
    return rows, int(total[0]) if total else 0


def contract_detail(conn: psycopg.Connection, number: str, subscriber_id: int | None = None
                    ) -> dict[str, Any] | None:
    """A contract with its subscribed-power history; None when unknown or not the subscriber's."""
    rows = [r for r in list_contracts(conn, subscriber_id=subscriber_id, search=number)[0] if r["number"] == number]
    if not rows:
        return None
    contract = rows[0]
    contract["powers"] = _dicts(conn.execute(
        "SELECT valid_from, power_kw, reason FROM contract_powers WHERE contract_id = %s ORDER BY valid_from",
        (contract["id"],)))
    contract["extra_points"] = _dicts(conn.execute(
        "SELECT dp.code, dp.name, m.code AS meter FROM contract_delivery_points x "
        "JOIN delivery_points dp ON dp.id = x.delivery_point_id LEFT JOIN meters m ON m.id = dp.meter_id "
        "WHERE x.contract_id = %s ORDER BY dp.code", (contract["id"],)))
    contract["final_invoice"] = None
    if contract["end_date"] is not None:
        row = conn.execute("SELECT number FROM invoices WHERE contract_id = %s AND status = 'issued' "
                           "AND kind = 'invoice' AND period_end > %s ORDER BY period_end DESC LIMIT 1",
                           (contract["id"], contract["end_date"])).fetchone()
        contract["final_invoice"] = row[0] if row else None
    return contract


def delivery_point_detail(conn: psycopg.Connection, code: str, readings: int = 40) -> dict[str, Any] | None:
    """A delivery point with its meter, its contracts (main point or one more point of the contract), its
    meter replacements and the latest ``readings`` billing readings of the meters it had."""
    rows = _dicts(conn.execute(
        "SELECT dp.id, dp.code, dp.name, dp.address, dp.subscribed_power_kw, s.code AS substation, "
        "s.name AS substation_name, m.code AS meter, m.register_capacity_kwh FROM delivery_points dp "
        "JOIN substations s ON s.id = dp.substation_id LEFT JOIN meters m ON m.id = dp.meter_id WHERE dp.code = %s",
        (code,)))
    if not rows:
        return None
    point = rows[0]
    point["contracts"] = _dicts(conn.execute(
        "SELECT c.number, c.start_date, c.end_date, c.category, s.code AS subscriber, s.name AS subscriber_name, "
        "c.delivery_point_id <> %(id)s AS extra FROM contracts c JOIN subscribers s ON s.id = c.subscriber_id "
        "WHERE c.delivery_point_id = %(id)s OR EXISTS (SELECT 1 FROM contract_delivery_points x "
        "WHERE x.contract_id = c.id AND x.delivery_point_id = %(id)s) ORDER BY c.start_date DESC", {"id": point["id"]}))
    point["changes"] = _dicts(conn.execute(
        "SELECT mc.at, o.code AS old_meter, mc.old_final_kwh, n.code AS new_meter, mc.new_initial_kwh, mc.by_whom "
        "FROM meter_changes mc JOIN meters o ON o.id = mc.old_meter_id JOIN meters n ON n.id = mc.new_meter_id "
        "WHERE mc.delivery_point_id = %s ORDER BY mc.at DESC", (point["id"],)))
    point["readings"] = _dicts(conn.execute(
        "SELECT m.code AS meter, r.at, r.index_kwh, r.kind, r.source, r.entered_by, r.reason, r.read_at, r.created_at "
        "FROM meter_readings r JOIN meters m ON m.id = r.meter_id WHERE r.meter_id IN (SELECT meter_id "
        "FROM delivery_points WHERE id = %(id)s UNION SELECT old_meter_id FROM meter_changes "
        "WHERE delivery_point_id = %(id)s) ORDER BY r.at DESC, r.created_at DESC LIMIT %(n)s",
        {"id": point["id"], "n": readings}))
    return point


#: days a subscriber was supplied at a delivery point: [first day, day after the last) (date.max: open)
SupplyPeriods = list[tuple[date, date]]


def supply_periods(conn: psycopg.Connection, subscriber_id: int, delivery_point: str) -> SupplyPeriods:
    """The periods of ``subscriber_id``'s contracts on ``delivery_point`` (main point or one more point of
    the contract), merged: what of the point's data is theirs to see."""
    return all_supply_periods(conn, subscriber_id, delivery_point).get(delivery_point, [])


def all_supply_periods(conn: psycopg.Connection, subscriber_id: int,
                       delivery_point: str | None = None) -> dict[str, SupplyPeriods]:
    """:func:`supply_periods` of every delivery point of the subscriber (or of one), in one query."""
    rows = conn.execute(
        """SELECT code, start_date, end_date FROM (
               SELECT dp.code, c.start_date, c.end_date FROM contracts c
               JOIN delivery_points dp ON dp.id = c.delivery_point_id WHERE c.subscriber_id = %(s)s
               UNION ALL
               SELECT dp.code, c.start_date, c.end_date FROM contracts c
               JOIN contract_delivery_points x ON x.contract_id = c.id
               JOIN delivery_points dp ON dp.id = x.delivery_point_id WHERE c.subscriber_id = %(s)s) p
           WHERE %(dp)s::text IS NULL OR code = %(dp)s ORDER BY code, start_date""",
        {"dp": delivery_point, "s": subscriber_id}).fetchall()
    out: dict[str, SupplyPeriods] = {}
    for code, start, end in rows:
        out.setdefault(code, [])
        _merge(out[code], start, end)
    return out


def _merge(merged: SupplyPeriods, start: date, end: date | None) -> None:
    """Add a contract's days [start, end] (inclusive end; None: open) to the merged periods (contracts
    come in start order)."""
    stop = date.max if end is None else end + timedelta(days=1)
    if merged and start <= merged[-1][1]:
        merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
    else:
        merged.append((start, stop))


def within(day: date, periods: SupplyPeriods | None) -> bool:
    """Whether ``day`` is inside one of ``periods`` (None: no restriction)."""
    return periods is None or any(start <= day < stop for start, stop in periods)


def period_arrays(periods: SupplyPeriods | None) -> dict[str, list[date] | None]:
    """Query parameters ``starts`` and ``ends`` of ``periods`` (None: no restriction), for
    ``unnest(%(starts)s::date[], %(ends)s::date[])``."""
    if periods is None:
        return {"starts": None, "ends": None}
    return {"starts": [s for s, _ in periods], "ends": [e for _, e in periods]}
