"""Bill runs: **simulate** (drafts, nothing numbered) → review the exceptions → **issue** (numbered, final).

- A run is named by a month. Simulating computes a draft for every contract due that month whose
  months are not billed yet; a contract that cannot be billed exactly becomes an exception of the
  review list instead (blocking: no draft) and never stops the others; a warning (an estimated index,
  a regularisation) is listed beside its draft. Simulating again replaces the run's drafts.
- Issuing (:mod:`billing.issuing`) numbers the drafts; issuing an issued run does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.types.json import Jsonb

from billing import store
from billing.compute import PriceCache, compute_draft
from billing.errors import ContractException, NotFoundError
from billing.model import Contract, Draft, EstimationBasis, MeterInputs, Period, Policy
from billing.money import exact_ratio
from billing.periods import add_months, boundary, months_of, run_period

log = logging.getLogger(__name__)
PARIS = ZoneInfo("Europe/Paris")
DegreeDays = Callable[[str, Period], Decimal | None]  # (network, period) -> DJU [K·day]
Progress = Callable[[int, int], None]
INVOICE_COLUMNS = ("id", "kind", "status", "run_id", "contract_id", "subscriber_id", "period_start", "period_end",
                   "total_ht", "total_vat", "total_ttc", "seller", "buyer", "payment", "readings", "warnings")
LINE_COLUMNS = ("invoice_id", "line_no", "kind", "label", "quantity", "unit", "unit_price", "prorata",
                "prorata_label", "amount_ht", "vat_rate", "period_start", "period_end", "details")


@dataclass(frozen=True)
class RunException:
    contract_id: int
    contract: str
    code: str
    blocking: bool
    message: str


@dataclass
class RunSummary:
    run_id: int
    month: date
    status: str
    contracts: int  # contracts due in the run and not billed yet
    invoices: int  # drafts (or issued invoices)
    total_ht: Decimal
    total_ttc: Decimal
    exceptions: list[RunException] = field(default_factory=list)

    @property
    def blocking(self) -> int:
        return sum(1 for e in self.exceptions if e.blocking)


@dataclass(frozen=True)
class IssueSummary:
    run_id: int
    issued: int
    first_number: str | None
    last_number: str | None


def simulate_run(conn: psycopg.Connection, month: date, *, actor: str, run_date: date | None = None,
                 degree_days: DegreeDays | None = None, progress: Progress | None = None,
                 contract_ids: Sequence[int] | None = None) -> RunSummary:
    """Compute the drafts of the run of ``month`` (creating it, or replacing its drafts).

    Args:
        run_date: the date of the computation (index values published later do not count); today.
        degree_days: DJU of a network over a period, for estimates corrected by the weather.

    Raises:
        StateError: the month's run is being issued by someone else.
    """
    run_date = run_date or datetime.now(PARIS).date()
    issuer = store.read_issuer(conn)
    due = contracts_due(conn, month, contract_ids)
    if not due:  # everything due this month is billed already: nothing to simulate
        row = conn.execute("SELECT id, status FROM bill_runs WHERE month = %s ORDER BY id DESC LIMIT 1",
                           (month,)).fetchone()
        return RunSummary(int(row[0]) if row else 0, month, row[1] if row else "nothing_due", 0, 0, Decimal(0),
                          Decimal(0))
    inputs = RunInputs.read(conn, due, run_date)
    drafts: list[Draft] = []
    exceptions: list[RunException] = []
    prices: PriceCache = {}  # this run's indexed prices, shared by the contracts of a category
    for i, (contract, period) in enumerate(due):
        try:
            draft = compute_draft(contract, period, run_date, inputs.tariffs, inputs.formulas, inputs.index_values,
                                  inputs.vat_periods, inputs.reductions, inputs.meter_inputs(contract, period,
                                                                                            degree_days),
                                  inputs.policy, prices)
        except ContractException as exc:
            exceptions.append(RunException(contract.id, contract.number, exc.code, exc.blocking, exc.message))
        else:
            drafts.append(draft)
            exceptions += [RunException(contract.id, contract.number, "warning", False, w) for w in draft.warnings]
        if progress is not None:
            progress(i + 1, len(due))
    with conn.transaction():
        run_id = _open_run(conn, month, run_date, actor)
        write_drafts(conn, run_id, drafts, issuer, inputs.parties(conn, [d.contract.id for d in drafts]))
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO bill_run_exceptions (run_id, contract_id, code, blocking, message) "
                            "VALUES (%s, %s, %s, %s, %s)",
                            [(run_id, e.contract_id, e.code, e.blocking, e.message) for e in exceptions])
        total_ht = sum((d.totals.total_ht for d in drafts), Decimal(0))
        total_ttc = sum((d.totals.total_ttc for d in drafts), Decimal(0))
        conn.execute("UPDATE bill_runs SET contracts = %s, invoices = %s, exceptions = %s, total_ht = %s, "
                     "total_ttc = %s, simulated_at = now(), run_date = %s WHERE id = %s",
                     (len(due), len(drafts), sum(e.blocking for e in exceptions), total_ht, total_ttc, run_date,
                      run_id))
        audit(conn, actor, "simulated", "bill_run", run_id,
              {"month": month.isoformat(), "drafts": len(drafts),
               "blocking_exceptions": sum(e.blocking for e in exceptions)})
    return RunSummary(run_id, month, "simulated", len(due), len(drafts), total_ht, total_ttc, exceptions)


def contracts_due(conn: psycopg.Connection, month: date, ids: Sequence[int] | None
                   ) -> list[tuple[Contract, Period]]:
    """Contracts billed in the run of ``month`` with their period, minus those already billed."""
    widest = Period(add_months(month, -11), add_months(month, 1))
    due = []
    for contract in store.read_contracts(conn, widest, ids):
        period = run_period(contract.frequency, month)
        if period is not None and period.intersect(contract.supplied) is not None:
            due.append((contract, period))
    months = sorted({m for _, p in due for m in months_of(p)})
    billed = store.read_billed_months(conn, [c.id for c, _ in due], months)
    return [(c, p) for c, p in due if not any((c.id, m) in billed for m in months_of(p.intersect(c.supplied) or p))]


@dataclass
class RunInputs:
    """Everything a run reads, in bulk."""

    policy: Policy
    tariffs: list[Any]
    formulas: list[Any]
    index_values: dict[Any, Any]
    vat_periods: list[Any]
    reductions: list[Any]
    previous: dict[int, Any]
    history: dict[int, list[tuple[date, date, Decimal]]]
    meters: dict[int, tuple[str, Decimal | None, list[Any]]]
    readings: dict[tuple[str, datetime], Any]

    @classmethod
    def read(cls, conn: psycopg.Connection, due: list[tuple[Contract, Period]], run_date: date) -> RunInputs:
        ids = [c.id for c, _ in due]
        meters = store.read_meters(conn, {c.delivery_point_id for c, _ in due})
        codes = sorted({code for code, _, changes in meters.values() for code in
                        [code, *(ch.old_meter for ch in changes), *(ch.new_meter for ch in changes)]})
        instants = sorted({boundary(d) for c, p in due for d in billed_bounds(c, p)})
        earliest = min((p.start for _, p in due), default=run_date)
        return cls(store.read_policy(conn), store.read_tariffs(conn), store.read_formulas(conn),
                   store.read_index_values(conn), store.read_vat_periods(conn), store.read_reductions(conn),
                   store.read_previous_billing(conn, {c.id: billed_bounds(c, p)[0] for c, p in due}),
                   store.read_consumption_history(conn, ids, earliest - timedelta(days=400)),
                   meters, store.read_boundary_readings(conn, codes, instants))

    def meter_inputs(self, contract: Contract, period: Period, degree_days: DegreeDays | None) -> MeterInputs:
        if contract.delivery_point_id not in self.meters:
            raise ContractException("no_meter", "aucun compteur n'est rattaché au point de livraison")
        current, capacity, changes = self.meters[contract.delivery_point_id]
        start_day, end_day = billed_bounds(contract, period)
        start_at, end_at = boundary(start_day), boundary(end_day)
        start = self.readings.get((store.meter_at(current, changes, start_at), start_at))
        end = self.readings.get((store.meter_at(current, changes, end_at), end_at))
        billed = Period(start_day, end_day)
        return MeterInputs(capacity, start, end, tuple(changes), self.previous.get(contract.id),
                           _estimation_basis(contract, billed, self.history.get(contract.id, []), degree_days))

    def parties(self, conn: psycopg.Connection, contract_ids: list[int]) -> dict[int, tuple[dict[str, Any],
                                                                                             dict[str, Any]]]:
        """Per contract, the buyer and payment snapshots frozen on its invoice."""
        return read_parties(conn, contract_ids)


def billed_bounds(contract: Contract, period: Period) -> tuple[date, date]:
    billed = period.intersect(contract.supplied) or period
    return billed.start, billed.end


def _estimation_basis(contract: Contract, period: Period, history: list[tuple[date, date, Decimal]],
                      degree_days: DegreeDays | None) -> EstimationBasis:
    """Same period a year earlier (from the contract's issued invoices) and its recent daily average."""
    last_year = Period(_year_before(period.start), _year_before(period.end))
    inside = [(s, e, kwh) for s, e, kwh in history if last_year.start <= s and e <= last_year.end]
    last_year_kwh = (sum((kwh for _, _, kwh in inside), Decimal(0))
                     if inside and sum((e - s).days for s, e, _ in inside) == last_year.days else None)
    recent = [(s, e, kwh) for s, e, kwh in history if e <= period.start][-3:]
    recent_days = sum((e - s).days for s, e, _ in recent)
    per_day = exact_ratio(sum((kwh for _, _, kwh in recent), Decimal(0)), Decimal(recent_days)) if recent_days else None
    dju = degree_days(contract.network, period) if degree_days and last_year_kwh is not None else None
    dju_before = degree_days(contract.network, last_year) if degree_days and last_year_kwh is not None else None
    return EstimationBasis(last_year_kwh, dju, dju_before, per_day)


def _year_before(day: date) -> date:
    return day.replace(year=day.year - 1, day=min(day.day, 28) if (day.month, day.day) == (2, 29) else day.day)


def _open_run(conn: psycopg.Connection, month: date, run_date: date, actor: str) -> int:
    row = conn.execute("SELECT id FROM bill_runs WHERE month = %s AND status = 'simulated' FOR UPDATE",
                       (month,)).fetchone()
    if row is not None:
        run_id = int(row[0])
        conn.execute("DELETE FROM invoices WHERE run_id = %s AND status = 'draft'", (run_id,))
        conn.execute("DELETE FROM bill_run_exceptions WHERE run_id = %s", (run_id,))
        return run_id
    row = conn.execute("INSERT INTO bill_runs (month, status, run_date, created_by, simulated_at) "
                       "VALUES (%s, 'simulated', %s, %s, now()) RETURNING id", (month, run_date, actor)).fetchone()
    assert row is not None  # noqa: S101
    return int(row[0])


def write_drafts(conn: psycopg.Connection, run_id: int | None, drafts: list[Draft], issuer: dict[str, Any],
                  parties: dict[int, tuple[dict[str, Any], dict[str, Any]]]) -> None:
    """Write drafts with COPY (ids reserved from the identity sequence first)."""
    if not drafts:
        return
    ids = [r[0] for r in conn.execute("SELECT nextval(pg_get_serial_sequence('invoices', 'id')) "
                                      "FROM generate_series(1, %s)", (len(drafts),))]
    seller = Jsonb(json_ready(issuer))
    with conn.cursor() as cur:
        with cur.copy(f"COPY invoices ({', '.join(INVOICE_COLUMNS)}) FROM STDIN") as copy:
            for invoice_id, d in zip(ids, drafts, strict=True):
                buyer, payment = parties[d.contract.id]
                copy.write_row((invoice_id, "invoice", "draft", run_id, d.contract.id, d.contract.subscriber_id,
                                d.period.start, d.period.end, d.totals.total_ht, d.totals.total_vat,
                                d.totals.total_ttc, seller, Jsonb(buyer), Jsonb(payment), Jsonb(d.readings),
                                Jsonb(list(d.warnings))))
        with cur.copy(f"COPY invoice_lines ({', '.join(LINE_COLUMNS)}) FROM STDIN") as copy:
            for invoice_id, d in zip(ids, drafts, strict=True):
                for no, line in enumerate(d.lines, start=1):
                    copy.write_row((invoice_id, no, line.kind, line.label, line.quantity, line.unit, line.unit_price,
                                    line.prorata, line.prorata_label, line.amount, line.vat_rate, line.period.start,
                                    line.period.end, Jsonb(line.details)))
        with cur.copy("COPY invoice_vat (invoice_id, rate, base, vat) FROM STDIN") as copy:
            for invoice_id, d in zip(ids, drafts, strict=True):
                for v in d.totals.by_rate:
                    copy.write_row((invoice_id, v.rate, v.base, v.vat))


def read_parties(conn: psycopg.Connection, contract_ids: Sequence[int]
                 ) -> dict[int, tuple[dict[str, Any], dict[str, Any]]]:
    """Per contract: the buyer (subscriber, delivery point, meter) and the payment method, as frozen on
    an invoice."""
    rows = conn.execute(
        """SELECT c.id, c.number, tc.label, s.code, s.name, s.siren, s.siret, s.vat_number, s.address_line1,
                  s.address_line2, s.postcode, s.city, s.country, s.email, s.public_entity, s.chorus_service_code,
                  s.chorus_engagement, dp.code, dp.name, dp.address, m.code,
                  c.payment_method, sm.reference, sm.signed_on, sm.iban, sm.bic
           FROM contracts c JOIN subscribers s ON s.id = c.subscriber_id
           JOIN tariff_categories tc ON tc.code = c.category
           JOIN delivery_points dp ON dp.id = c.delivery_point_id LEFT JOIN meters m ON m.id = dp.meter_id
           LEFT JOIN sepa_mandates sm ON sm.id = c.mandate_id
           WHERE c.id = ANY(%s)""", (list(contract_ids),)).fetchall()
    out = {}
    for r in rows:
        buyer = {"contract": r[1], "category": r[2], "code": r[3], "name": r[4], "siren": r[5], "siret": r[6],
                 "vat_number": r[7], "address_line1": r[8], "address_line2": r[9], "postcode": r[10], "city": r[11],
                 "country": r[12], "email": r[13], "public_entity": r[14], "chorus_service_code": r[15],
                 "chorus_engagement": r[16], "delivery_point": r[17], "delivery_point_name": r[18],
                 "delivery_point_address": r[19], "meter": r[20]}
        payment: dict[str, Any] = {"method": r[21]}
        if r[21] == "sepa":
            payment.update({"mandate_reference": r[22], "mandate_signed_on": r[23].isoformat(), "iban": r[24],
                            "bic": r[25]})
        out[int(r[0])] = (buyer, payment)
    return out


def json_ready(data: dict[str, Any]) -> dict[str, Any]:
    """A row as JSON values (dates and decimals as strings)."""
    return {k: (v.isoformat() if isinstance(v, date) else str(v) if isinstance(v, Decimal) else v)
            for k, v in data.items()}


def audit(conn: psycopg.Connection, actor: str, action: str, object_type: str, object_id: int | None,
          details: dict[str, Any] | None = None) -> None:
    """Append one entry to the billing audit trail (who, when, what)."""
    conn.execute("INSERT INTO billing_audit (actor, action, object_type, object_id, details) "
                 "VALUES (%s, %s, %s, %s, %s)", (actor, action, object_type, object_id, Jsonb(details or {})))


def run_summary(conn: psycopg.Connection, run_id: int) -> RunSummary:
    """A run as stored, with its review list."""
    row = conn.execute("SELECT month, status, contracts, invoices, total_ht, total_ttc FROM bill_runs WHERE id = %s",
                       (run_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"tournée de facturation {run_id} inconnue")
    exceptions = [RunException(*r) for r in conn.execute(
        """SELECT e.contract_id, c.number, e.code, e.blocking, e.message FROM bill_run_exceptions e
           JOIN contracts c ON c.id = e.contract_id WHERE e.run_id = %s ORDER BY e.blocking DESC, c.number""",
        (run_id,))]
    return RunSummary(run_id, row[0], row[1], row[2], row[3], row[4], row[5], exceptions)
