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
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.types.json import Jsonb

from billing import fr, store
from billing.compute import PriceCache
from billing.errors import ContractException, NotFoundError, StateError
from billing.inputs import DegreeDays, RunInputs
from billing.model import Contract, Draft, Period
from billing.periods import add_months, months_of, run_period

log = logging.getLogger(__name__)
PARIS = ZoneInfo("Europe/Paris")
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
    message: str = ""  # French, for billing staff: why nothing was simulated

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
                 contract_ids: Sequence[int] | None = None,
                 due: Sequence[tuple[Contract, Period]] | None = None) -> RunSummary:
    """Compute the drafts of the run of ``month`` (creating it, or replacing its drafts).

    Args:
        run_date: the date of the computation (index values published later do not count); today.
        degree_days: DJU of a network over a period, for estimates corrected by the weather.
        due: :func:`contracts_due` of this month and contracts, when the caller has just read it.

    Raises:
        StateError: the month's run is being issued by someone else.
    """
    run_date = run_date or datetime.now(PARIS).date()
    issuer = store.read_issuer(conn)
    due = list(due) if due is not None else contracts_due(conn, month, contract_ids)
    check_month_ended(month, run_date, due, restricted=contract_ids is not None)
    if not due:  # everything due this month is billed already: say by which run
        return _nothing_due(conn, month, contract_ids)
    inputs = RunInputs.read(conn, due, run_date)
    drafts: list[Draft] = []
    exceptions: list[RunException] = []
    prices: PriceCache = {}  # this run's indexed prices, shared by the contracts of a category
    for i, (contract, period) in enumerate(due):
        try:
            draft = inputs.draft(contract, period, run_date, degree_days, prices)
        except ContractException as exc:
            exceptions.append(RunException(contract.id, contract.number, exc.code, exc.blocking, exc.message))
        else:
            drafts.append(draft)
            exceptions += [RunException(contract.id, contract.number, "warning", False, w) for w in draft.warnings]
        if progress is not None:
            progress(i + 1, len(due))
    with conn.transaction():
        run_id = _open_run(conn, month, run_date, actor)
        write_drafts(conn, run_id, drafts, issuer, read_parties(conn, [d.contract.id for d in drafts]))
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


def check_month_ended(month: date, run_date: date, due: Sequence[tuple[Contract, Period]] = (), *,
                      restricted: bool = False) -> None:
    """A month is billed once it has ended; a run restricted to some contracts (a final invoice) once
    their supply has ended.

    Raises:
        StateError: in French, saying from when the run can be made.
    """
    after = add_months(month, 1)
    if after <= run_date:
        return
    if restricted and due and all(c.end is not None and c.end < run_date for c, _ in due):
        return
    if month > run_date:
        raise StateError(f"{fr.month(month).capitalize()} est à venir : sa tournée pourra être lancée à partir du "
                         f"{fr.day(after)}.")
    raise StateError(f"{fr.month(month).capitalize()} n'est pas terminé : sa tournée pourra être lancée à partir du "
                     f"{fr.day(after)}.")


def _nothing_due(conn: psycopg.Connection, month: date, contract_ids: Sequence[int] | None) -> RunSummary:
    """The summary of a month with nothing left to bill, naming the run(s) that billed it."""
    runs = conn.execute("SELECT id, status, issued_at, invoices FROM bill_runs WHERE month = %s ORDER BY id",
                        (month,)).fetchall()
    issued = [r for r in runs if r[1] == "issued"]
    if issued:
        held = " ; ".join(f"tournée n° {r[0]} émise le {fr.day(r[2].astimezone(PARIS).date())} ({r[3]} facture(s))"
                          for r in issued)
        message = f"Tout est déjà facturé pour {fr.month(month)} : {held}."
    else:
        message = f"Aucun contrat à facturer pour {fr.month(month)}."
    row = runs[-1] if runs else None
    return RunSummary(int(row[0]) if row else 0, month, "nothing_due", 0, 0, Decimal(0), Decimal(0), [], message)


def discard_run(conn: psycopg.Connection, run_id: int, *, actor: str) -> None:
    """Throw a simulated run away (its drafts and review list), to start again later; an issued run is
    never discarded.

    Raises:
        NotFoundError: no such run.
        StateError: the run is issued.
    """
    with conn.transaction():
        row = conn.execute("SELECT status, month FROM bill_runs WHERE id = %s FOR UPDATE", (run_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"tournée de facturation {run_id} inconnue")
        if row[0] != "simulated":
            raise StateError(f"la tournée {run_id} est émise : elle ne s'annule pas (émettre des avoirs)")
        conn.execute("DELETE FROM invoices WHERE run_id = %s AND status = 'draft'", (run_id,))
        conn.execute("DELETE FROM bill_runs WHERE id = %s", (run_id,))
        audit(conn, actor, "discarded", "bill_run", run_id, {"month": row[1].isoformat()})


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
