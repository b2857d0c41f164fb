"""A year of billing in the demonstration: the monthly runs of the twelve months before this one, oldest
first, each simulated and issued on the 3rd of the next month, through what a régie's year brings.

The year is counted from the first month the demonstration billed, so a restart neither repeats nor moves
what happened; months after it get their runs (and January its tariff vote) and nothing else. With the
centre network's delivery points in code order (the first kept as it is):

- every **January**: the board's new prices, imported after December's run: the open-ended tariff
  version ends on 31 December by itself (tariff succession);
- month 5: **change of occupant** on the second point: the occupant leaves on the 14th, its final
  invoice is issued on the 20th, a co-ownership moves in on the 15th;
- month 7: **meter replacement** on the third point, on the 10th at 10 h (the old meter's final index is
  its telemetry register then; the new one starts at 0 and is read by an agent at each month's end, as
  it is not wired to the telemetry yet);
- months 8 and 10: the centre network's **renewable share** falls to 46 % (the incinerator's technical
  stop: R1 at 20 % VAT), then comes back to 78 %;
- month 11: a **wrong remote index** on the fourth point (a corrupted transmission the demonstration
  plants on purpose) is billed; an agent corrects it and the invoice is credited and issued again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import psycopg

from billing import fr
from billing.credit import credit_invoice
from billing.identifiers import siren_with_key, siret_with_key
from billing.imports import import_tariffs
from billing.issuing import issue_run
from billing.meters import record_reading
from billing.occupancy import change_occupant
from billing.periods import PARIS, add_months, boundary
from billing.records import save_subscriber
from billing.regie import save_vat_period
from billing.runs import contracts_due, simulate_run
from regie_chaleur.db.database import Database
from regie_chaleur.demo.setup import ACTOR, Progress
from regie_chaleur.services.billing import final_invoice, refresh_boundary_readings
from regie_chaleur.services.meters import replace_meter
from regie_chaleur.services.weather import degree_days_source
from telemetry.queries import read_registers_at

log = logging.getLogger(__name__)
AGENT = "agent.releve@regie-ivry.demo"
OCCUPANT, METER, VAT_DOWN, VAT_UP, CORRECTION = 4, 6, 7, 9, 10  # months of the year, from 0
GLITCH_KWH = Decimal(30_000)  # [kWh] the wrong remote index's excess
NEW_OCCUPANT = {"code": "COPRO-RENOUVEAU", "name": "Syndicat des copropriétaires de la résidence Le Renouveau "
                "(démonstration)", "address_line1": "18 rue Marat", "postcode": "94200", "city": "Ivry-sur-Seine",
                "email": "syndic.renouveau@exemple.fr"}
#: each January's vote: base prices of the 2026 deliberation, +2 % a year after (€/MWh, €/kW/an)
JANUARY_PRICES = {"logement_social": ("57.90", "3.40", "19.80", "8.60", "24.10"),
                  "copropriete": ("57.90", "3.40", "19.80", "8.60", "24.10"),
                  "equipement_public": ("57.90", "3.40", "19.80", "8.60", "24.10"),
                  "tertiaire": ("60.40", "3.40", "19.80", "8.60", "24.10")}


@dataclass(frozen=True)
class Year:
    first: date  # the first month billed

    def index(self, month: date) -> int:
        return (month.year - self.first.year) * 12 + month.month - self.first.month

    def month(self, index: int) -> date:
        return add_months(self.first, index)


def bill_the_year(db: Database, today: date, progress: Progress) -> list[int]:
    """Issue every month not yet billed since the year's first month, up to last month, with the year's
    events; returns the ids of the runs issued (newest first), for their documents."""
    current = today.replace(day=1)
    issued: list[int] = []
    with db.pool.connection() as conn:
        first = conn.execute("SELECT min(month) FROM bill_runs WHERE status = 'issued'").fetchone()
        year = Year(first[0] if first and first[0] else add_months(current, -12))
        points = centre_points(conn)
        month = year.first
        while month < current:
            run_id = bill_one_month(conn, year, month, points, today)
            if run_id is not None:
                issued.append(run_id)
                progress.step(f"bill run of {month:%m/%Y}: {_invoices(conn, run_id)} invoices issued")
            if year.index(month) == CORRECTION and len(points) > 3:
                correct_the_wrong_index(conn, month, points[3], today)
            month = add_months(month, 1)
    return issued[::-1]


def centre_points(conn: psycopg.Connection) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT dp.code FROM delivery_points dp JOIN substations s ON s.id = dp.substation_id "
        "WHERE s.network = 'centre' ORDER BY dp.code")]


def _invoices(conn: psycopg.Connection, run_id: int) -> int:
    row = conn.execute("SELECT invoices FROM bill_runs WHERE id = %s", (run_id,)).fetchone()
    return int(row[0]) if row else 0


def run_day(month: date, today: date) -> tuple[date, datetime]:
    """When the run of ``month`` is made: the 3rd of the next month at 9 h (Paris), never after now."""
    day = min(add_months(month, 1) + timedelta(days=2), today)
    at = min(datetime.combine(day, time(9), PARIS), datetime.now(UTC))
    return day, at


def bill_one_month(conn: psycopg.Connection, year: Year, month: date, points: list[str], today: date) -> int | None:
    """The month's events, then its run simulated and issued; None when it was billed already."""
    if not contracts_due(conn, month, None):
        return None
    i = year.index(month)
    if month.month == 1:
        vote_january_prices(conn, month.year)
    if i == OCCUPANT and len(points) > 1:
        change_the_occupant(conn, month, points[1], today)
    if i >= METER and len(points) > 2:
        replace_and_read_meter(conn, month, points[2], replace=i == METER)
    if i in (VAT_DOWN, VAT_UP):
        change_renewable_share(conn, month, down=i == VAT_DOWN)
    refresh_boundary_readings(conn, month)
    if i == CORRECTION and len(points) > 3:
        plant_a_wrong_index(conn, month, points[3])
    day, at = run_day(month, today)
    summary = simulate_run(conn, month, actor=ACTOR, run_date=day, degree_days=degree_days_source(conn))
    if summary.status != "simulated":
        return None
    issue_run(conn, summary.run_id, actor=ACTOR, now=at)
    return summary.run_id


def vote_january_prices(conn: psycopg.Connection, year: int) -> None:
    """The board's prices from 1 January of ``year`` (ending the open-ended version on 31 December)."""
    if conn.execute("SELECT 1 FROM tariffs WHERE valid_from = %s", (date(year, 1, 1),)).fetchone():
        return
    factor = Decimal("1.02") ** max(0, year - 2026)
    lines = ["category,valid_from,valid_to,r1_eur_mwh,r21_eur_kw_year,r22_eur_kw_year,r23_eur_kw_year,"
             "r24_eur_kw_year,deliberation,deliberation_date"]
    for category, prices in JANUARY_PRICES.items():
        values = ",".join(str((Decimal(p) * factor).quantize(Decimal("0.01"))) for p in prices)
        lines.append(f"{category},{year}-01-01,,{values},CA-{year - 1}-41,{year - 1}-12-11")
    import_tariffs(conn, "\n".join(lines) + "\n", f"tarifs-{year}.csv", actor=ACTOR)


def change_the_occupant(conn: psycopg.Connection, month: date, point: str, today: date) -> None:
    """The occupant of ``point`` leaves on the 14th (final invoice on the 20th); a co-ownership moves in."""
    current = conn.execute("SELECT c.number, (SELECT power_kw FROM contract_powers p WHERE p.contract_id = c.id "
                           "ORDER BY valid_from DESC LIMIT 1) FROM contracts c JOIN delivery_points dp "
                           "ON dp.id = c.delivery_point_id WHERE dp.code = %s AND c.end_date IS NULL",
                           (point,)).fetchone()
    if current is None:
        return
    if conn.execute("SELECT 1 FROM subscribers WHERE code = %s", (NEW_OCCUPANT["code"],)).fetchone() is None:
        siren = siren_with_key("93950001")
        save_subscriber(conn, {**NEW_OCCUPANT, "siren": siren, "siret": siret_with_key(siren)}, actor=ACTOR)
    last_day = month + timedelta(days=13)
    change_occupant(conn, point, last_day, {
        "number": f"{current[0]}-B", "subscriber": NEW_OCCUPANT["code"], "category": "copropriete",
        "power_kw": str(current[1]), "frequency": "monthly", "payment_method": "transfer"}, actor=ACTOR)
    day = min(month + timedelta(days=19), today)
    final_invoice(conn, current[0], actor=ACTOR, run_date=day, documents=False,
                  now=min(datetime.combine(day, time(11), PARIS), datetime.now(UTC)))


def register_at(conn: psycopg.Connection, point: str, at: datetime) -> Decimal | None:
    """The telemetry energy register [kWh] of ``point``'s first meter device at ``at``."""
    device = conn.execute("SELECT m.device_id FROM delivery_points dp JOIN substations s ON s.id = dp.substation_id "
                          "JOIN meters m ON m.substation_id = s.id AND m.device_id IS NOT NULL WHERE dp.code = %s "
                          "ORDER BY m.id LIMIT 1", (point,)).fetchone()
    if device is None:
        return None
    found = read_registers_at(conn, [int(device[0])], [at], timedelta(hours=3))
    sample = found.get((int(device[0]), at))
    return Decimal(repr(sample[1])).quantize(Decimal("0.001")) if sample else None


def replace_and_read_meter(conn: psycopg.Connection, month: date, point: str, *, replace: bool) -> None:
    """On the replacement month, the meter of ``point`` is replaced on the 10th at 10 h; every month from
    then, an agent reads the new meter at the month's end (its index: the energy since the change)."""
    change = conn.execute("SELECT mc.at, mc.old_final_kwh, n.code FROM meter_changes mc JOIN meters n "
                          "ON n.id = mc.new_meter_id JOIN delivery_points dp ON dp.id = mc.delivery_point_id "
                          "WHERE dp.code = %s", (point,)).fetchone()
    if change is None:
        if not replace:
            return
        at = datetime.combine(month + timedelta(days=9), time(10), PARIS)
        final = register_at(conn, point, at)
        old = conn.execute("SELECT m.code FROM delivery_points dp JOIN meters m ON m.id = dp.meter_id "
                           "WHERE dp.code = %s", (point,)).fetchone()
        if final is None or old is None:
            log.warning("meter of %s not replaced: no register at %s", point, at)
            return
        replace_meter(conn, point, at, final, f"{old[0]}-N", Decimal(0), actor=AGENT)
        change = (at, final, f"{old[0]}-N")
    end = add_months(month, 1)
    register = register_at(conn, point, boundary(end))
    if register is not None:
        record_reading(conn, change[2], end, register - Decimal(change[1]), "manual", "", actor=AGENT,
                       read_at=datetime.combine(end, time(9, 30), PARIS), confirm=True)


def change_renewable_share(conn: psycopg.Connection, month: date, *, down: bool) -> None:
    if conn.execute("SELECT 1 FROM vat_periods WHERE network = 'centre' AND valid_from = %s", (month,)).fetchone():
        return
    if down:
        save_vat_period(conn, "centre", month, None, Decimal("46"), "Arrêt technique de l'UVE Ivry-Paris XIII "
                        "(démonstration) : bilan prévisionnel, récupération 39 %, géothermie 7 %", actor=ACTOR)
    else:
        save_vat_period(conn, "centre", month, None, Decimal("78"), "Remise en service de l'UVE Ivry-Paris XIII "
                        "(démonstration) : récupération 71 %, géothermie 7 %", actor=ACTOR)


def plant_a_wrong_index(conn: psycopg.Connection, month: date, point: str) -> None:
    """The remote index of ``point`` at the month's end, wrong by :data:`GLITCH_KWH` (demonstration only)."""
    conn.execute("UPDATE meter_readings r SET index_kwh = index_kwh + %s FROM delivery_points dp "
                 "WHERE dp.code = %s AND r.meter_id = dp.meter_id AND r.at = %s AND r.kind = 'actual'",
                 (GLITCH_KWH, point, boundary(add_months(month, 1))))


def correct_the_wrong_index(conn: psycopg.Connection, month: date, point: str, today: date) -> None:
    """The agent's correction of the index planted in ``month``'s run, then a credit note and the
    corrected invoice (before the next month's run, so that numbers follow dates)."""
    end = add_months(month, 1)
    found = conn.execute(
        "SELECT i.number, m.code, (i.readings -> 'end' ->> 'index_kwh')::numeric FROM invoices i "
        "JOIN contracts c ON c.id = i.contract_id JOIN delivery_points dp ON dp.id = c.delivery_point_id "
        "JOIN meters m ON m.id = dp.meter_id WHERE dp.code = %s AND i.period_start = %s AND i.kind = 'invoice' "
        "AND i.status = 'issued' AND NOT EXISTS (SELECT 1 FROM invoices n WHERE n.corrects_invoice_id = i.id)",
        (point, month)).fetchone()
    true = register_at(conn, point, boundary(end))
    if found is None or found[2] is None or true is None or Decimal(found[2]) - true != GLITCH_KWH:
        return
    _, at = run_day(month, today)
    now = datetime.now(UTC)
    record_reading(conn, found[1], end, true, "correction", "index télérelevé faussé à la transmission "
                   f"(+{fr.number(GLITCH_KWH)} kWh), relevé sur place", actor=AGENT,
                   read_at=min(at + timedelta(days=2), now), confirm=True)
    credit_invoice(conn, found[0], actor=AGENT, reason="index de fin erroné (transmission faussée)", reissue=True,
                   now=min(at + timedelta(days=3), now))
