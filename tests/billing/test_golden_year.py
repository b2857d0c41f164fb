"""Golden invoices through a year of operation, each computed by hand (arithmetic in the comments), to the
cent: the half cent of an exact prorata, a January tariff after an open-ended one, a change of the
renewable share (VAT), a quarterly contract revised month by month, a change of occupant with its final
invoice, a meter replacement entered from the application and readings entered or corrected by hand.

Tariff 2025 (copropriété): R1 62,35 €/MWh; R21 5,812, R22 21,45, R23 9,87, R24 14,20 €/kW/an; a month is
exactly 1/12 of a year. VAT 5,5 % (renewable share 75 %) unless the case changes it. Amounts are rounded
once, half up, to the cent; unit prices to 4 decimals.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal

import psycopg
import pytest

from billing.errors import StateError, ValidationError
from billing.imports import import_formulas, import_indices, import_tariffs
from billing.issuing import issue_run
from billing.meters import PlausibilityWarning, record_reading
from billing.occupancy import change_occupant
from billing.regie import save_vat_period
from billing.runs import simulate_run
from regie_chaleur.db.database import Database
from regie_chaleur.services.billing import final_invoice
from tests.billing.support import ACTOR, amounts, contract, invoice_of, remote, setup_billing, subscriber

OCT, NOV, DEC = date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)
JAN, FEB = date(2027, 1, 1), date(2027, 2, 1)


@pytest.fixture
def conn(db: Database) -> Iterator[psycopg.Connection]:
    with db.pool.connection() as c:
        setup_billing(c)
        subscriber(c, "ABO-1", 1)
        subscriber(c, "ABO-2", 2)
        yield c


def bill(conn: psycopg.Connection, month: date, run_date: date) -> int:
    summary = simulate_run(conn, month, actor=ACTOR, run_date=run_date)
    assert summary.blocking == 0, summary.exceptions
    issue_run(conn, summary.run_id, actor=ACTOR, now=datetime.combine(run_date, time(9), UTC))
    return summary.run_id


def totals(inv: dict[str, object]) -> tuple[object, object, object]:
    return inv["total_ht"], inv["total_vat"], inv["total_ttc"]


def test_an_exact_half_cent_is_rounded_up(conn: psycopg.Connection) -> None:
    # 90 kW, October: R21 90 × 5,812 / 12 = 43,59; R22 90 × 21,45 / 12 = 160,875 → 160,88 (half a cent: up);
    # R23 90 × 9,87 / 12 = 74,025 → 74,03; R24 90 × 14,20 / 12 = 106,50
    # (with 1/12 stored as 0,0833…, 160,874 99… and 74,024 99… fell to 160,87 and 74,02)
    # R1 10 000 kWh × 62,35 = 623,50; HT 1 008,50; TVA 5,5 % = 55,4675 → 55,47; TTC 1 063,97
    contract(conn, "POL-0001", "ABO-1", "PDL-0001", date(2025, 1, 1), power="90")
    remote(conn, "MTR-0001", OCT, "100000")
    remote(conn, "MTR-0001", NOV, "110000")
    bill(conn, OCT, date(2026, 11, 3))
    inv = invoice_of(conn, "POL-0001", OCT)
    assert [li["amount"] for li in inv["lines"]] == [Decimal("623.50"), Decimal("43.59"), Decimal("160.88"),
                                                     Decimal("74.03"), Decimal("106.50")]
    assert totals(inv) == (Decimal("1008.50"), Decimal("55.47"), Decimal("1063.97"))


TARIFF_2027 = ("category,valid_from,valid_to,r1_eur_mwh,r21_eur_kw_year,r22_eur_kw_year,r23_eur_kw_year,"
               "r24_eur_kw_year,deliberation,deliberation_date\n"
               "copropriete,2027-01-01,,64.00,6.45,22.00,10.00,14.50,CA-2026-58,2026-12-15\n")


def test_january_tariff_follows_an_open_ended_one(conn: psycopg.Connection) -> None:
    # October 2026 is issued on the open-ended 2025 tariff, which locks it. The board votes the 2027
    # prices in December: importing them from 1 January ends the 2025 version on 31 December.
    # January 2027, 90 kW, 12 000 kWh: R1 12 × 64,00 = 768,00; R21 90 × 6,45 / 12 = 48,375 → 48,38;
    # R22 90 × 22 / 12 = 165,00; R23 90 × 10 / 12 = 75,00; R24 90 × 14,50 / 12 = 108,75
    # HT 1 165,13; TVA 5,5 % = 64,082 15 → 64,08; TTC 1 229,21
    contract(conn, "POL-0001", "ABO-1", "PDL-0001", date(2025, 1, 1), power="90")
    remote(conn, "MTR-0001", OCT, "100000")
    remote(conn, "MTR-0001", NOV, "110000")
    bill(conn, OCT, date(2026, 11, 3))
    # a version taking days the October invoice billed is refused, naming it
    inside = TARIFF_2027.replace("2027-01-01,,", "2026-10-01,,")
    with pytest.raises(ValidationError, match=r"la facture FAC-2026-000001 l'applique jusqu'au 31/10/2026"):
        import_tariffs(conn, inside, "tarifs-2026.csv", actor=ACTOR)
    # nor can the database's owner shorten the locked version by hand
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="FAC-2026-000001"), conn.transaction():
        conn.execute("UPDATE tariffs SET valid_to = '2026-10-15' WHERE category = 'copropriete'")
    import_tariffs(conn, TARIFF_2027, "tarifs-2027.csv", actor=ACTOR)
    versions = conn.execute("SELECT valid_from, valid_to FROM tariffs WHERE category = 'copropriete' "
                            "ORDER BY valid_from").fetchall()
    assert versions == [(date(2025, 1, 1), JAN), (JAN, None)]

    remote(conn, "MTR-0001", JAN, "600000")
    remote(conn, "MTR-0001", FEB, "612000")
    bill(conn, JAN, date(2027, 2, 2))
    inv = invoice_of(conn, "POL-0001", JAN)
    assert [li["amount"] for li in inv["lines"]] == [Decimal("768.00"), Decimal("48.38"), Decimal("165.00"),
                                                     Decimal("75.00"), Decimal("108.75")]
    assert inv["lines"][0]["unit_price"] == Decimal("64.0000")
    assert totals(inv) == (Decimal("1165.13"), Decimal("64.08"), Decimal("1229.21"))


def test_renewable_share_falls_below_half_from_a_date(conn: psycopg.Connection) -> None:
    # October billed at 75 % (R1 5,5 %). From 1 November the share is 45 %: the open period ends on
    # 31 October by itself, and R1 goes to 20 % (the latest period wins, never the oldest).
    # November 137,5 kW: R1 14 000 kWh × 62,35 = 872,90 at 20 % → 174,58; R2 588,18 at 5,5 % → 32,349 9
    # → 32,35; HT 1 461,08; TVA 206,93; TTC 1 668,01
    contract(conn, "POL-0001", "ABO-1", "PDL-0001", date(2025, 1, 1))
    for day, index in ((OCT, "482117"), (NOV, "496530"), (DEC, "510530")):
        remote(conn, "MTR-0001", day, index)
    bill(conn, OCT, date(2026, 11, 3))
    with pytest.raises(ValidationError, match="FAC-2026-000001"):  # October is invoiced at 5,5 %
        save_vat_period(conn, "centre", date(2026, 10, 15), None, Decimal("45"), "bilan", actor=ACTOR)
    assert save_vat_period(conn, "centre", NOV, None, Decimal("45"), "Arrêt de l'UVE, bilan prévisionnel",
                           actor=ACTOR) == (Decimal("20.00"), Decimal("5.50"))
    bill(conn, NOV, date(2026, 12, 2))
    inv = invoice_of(conn, "POL-0001", NOV)
    assert (inv["lines"][0]["amount"], inv["lines"][0]["vat_rate"]) == (Decimal("872.90"), Decimal("20.00"))
    assert inv["vat"] == {Decimal("20.00"): (Decimal("872.90"), Decimal("174.58")),
                          Decimal("5.50"): (Decimal("588.18"), Decimal("32.35"))}
    assert totals(inv) == (Decimal("1461.08"), Decimal("206.93"), Decimal("1668.01"))


INDICES = """series,month,value,published_on,name,source
GAZ,2026-09,112.4,2026-10-12,Indice gaz naturel,INSEE 010534766
GAZ,2026-10,105.7,2026-11-12,Indice gaz naturel,INSEE 010534766
GAZ,2026-11,101.2,2026-12-11,Indice gaz naturel,INSEE 010534766
ICHT,2026-08,126.3,2026-10-15,Coût horaire du travail IME,INSEE 001565183
ICHT,2026-09,126.9,2026-11-14,Coût horaire du travail IME,INSEE 001565183
ICHT,2026-10,127.5,2026-12-14,Coût horaire du travail IME,INSEE 001565183
"""
FORMULAS = """term,category,valid_from,valid_to,fixed_part,lag_months,deliberation,series,weight,base_value
R1,copropriete,2026-01-01,,0.15,1,CA-2025-12,GAZ,0.85,100
R22,,2026-01-01,,0.2,2,CA-2025-12,ICHT,0.8,120
"""


def test_quarterly_contract_is_revised_month_by_month(conn: psycopg.Connection) -> None:
    # Quarter October-December 2026, billed in the December run; each month its own indexed price.
    # R1 = 62,35 × (0,15 + 0,85 × GAZ(m−1)/100): October 112,4 → 68,9217; November 105,7 → 65,3709;
    #   December 101,2 → 62,35 × 1,0102 = 62,985 97 → 62,9860
    # R22 = 21,45 × (0,2 + 0,8 × ICHT(m−2)/120): October 126,3 → 22,3509; November 126,9 → 22,4367;
    #   December 127,5 → 21,45 × 1,05 = 22,5225
    # energy 527 117 − 482 117 = 45 MWh, shared by days (31, 30, 31 of 92): 45 × 31/92 = 15,163;
    #   45 × 30/92 = 14,674; December the rest, 15,163
    # R1: 15,163 × 68,9217 = 1 045,06; 14,674 × 65,3709 = 959,25; 15,163 × 62,9860 = 955,06
    # R22 137,5 kW / 12: × 22,3509 = 256,10; × 22,4367 = 257,09; × 22,5225 = 258,07
    # R21 66,60, R23 113,09, R24 162,71 each month
    # HT 2 959,37 + 771,26 + 3 × 342,40 = 4 757,83; TVA 5,5 % = 261,680 65 → 261,68; TTC 5 019,51
    import_indices(conn, INDICES, "indices.csv", actor=ACTOR)
    import_formulas(conn, FORMULAS, "formules.csv", actor=ACTOR)
    contract(conn, "POL-0001", "ABO-1", "PDL-0001", date(2025, 1, 1), frequency="quarterly")
    remote(conn, "MTR-0001", OCT, "482117")
    remote(conn, "MTR-0001", JAN, "527117")
    assert simulate_run(conn, NOV, actor=ACTOR, run_date=DEC).contracts == 0  # not a quarter's end
    bill(conn, DEC, date(2027, 1, 4))
    inv = invoice_of(conn, "POL-0001", OCT)
    assert (inv["period_start"], inv["period_end"]) == (OCT, JAN)
    r1 = [li for li in inv["lines"] if li["kind"] == "R1"]
    assert [(li["quantity"], li["unit_price"], li["amount"]) for li in r1] == [
        (Decimal("15.163"), Decimal("68.9217"), Decimal("1045.06")),
        (Decimal("14.674"), Decimal("65.3709"), Decimal("959.25")),
        (Decimal("15.163"), Decimal("62.9860"), Decimal("955.06"))]
    r22 = [li for li in inv["lines"] if li["kind"] == "R22"]
    assert [(li["unit_price"], li["amount"]) for li in r22] == [
        (Decimal("22.3509"), Decimal("256.10")), (Decimal("22.4367"), Decimal("257.09")),
        (Decimal("22.5225"), Decimal("258.07"))]
    for kind, amount in (("R21", "66.60"), ("R23", "113.09"), ("R24", "162.71")):
        assert amounts(inv, kind) == [Decimal(amount)] * 3
    assert totals(inv) == (Decimal("4757.83"), Decimal("261.68"), Decimal("5019.51"))


def test_change_of_occupant_with_the_final_invoice(conn: psycopg.Connection) -> None:
    # ABO-1 leaves PDL-0001 after 15 October; ABO-2 moves in on the 16th at 90 kW.
    # Final invoice of POL-0001, 1-15 October (15/31 × 1/12 = 15/372): R1 489 000 − 482 117 = 6 883 kWh
    #   × 62,35 = 429,155 05 → 429,16; R21 799,15 × 15/372 = 32,22; R22 2 949,375 × 15/372 = 118,93;
    #   R23 1 357,125 × 15/372 = 54,72; R24 1 952,5 × 15/372 = 78,73; HT 713,76; TVA 39,2568 → 39,26;
    #   TTC 753,02
    # POL-0002, 16-31 October (16/372), in the October run: R1 496 530 − 489 000 = 7 530 kWh × 62,35
    #   = 469,4955 → 469,50; R21 523,08 × 16/372 = 22,50; R22 1 930,5 × 16/372 = 83,03;
    #   R23 888,3 × 16/372 = 38,21; R24 1 278 × 16/372 = 54,97; HT 668,21; TVA 36,751 55 → 36,75; TTC 704,96
    contract(conn, "POL-0001", "ABO-1", "PDL-0001", date(2025, 1, 1))
    remote(conn, "MTR-0001", OCT, "482117")
    remote(conn, "MTR-0001", date(2026, 10, 16), "489000")
    remote(conn, "MTR-0001", NOV, "496530")
    change_occupant(conn, "PDL-0001", date(2026, 10, 15), {
        "number": "POL-0002", "subscriber": "ABO-2", "category": "copropriete", "power_kw": "90"}, actor=ACTOR)
    with pytest.raises(StateError, match="à partir du 16/10/2026"):
        final_invoice(conn, "POL-0001", actor=ACTOR, run_date=date(2026, 10, 15), documents=False)
    done = final_invoice(conn, "POL-0001", actor=ACTOR, run_date=date(2026, 10, 20), documents=False)
    assert done.issued is not None and done.issued.issued == 1
    final = invoice_of(conn, "POL-0001", OCT)
    assert (final["period_start"], final["period_end"]) == (OCT, date(2026, 10, 16))
    assert [li["amount"] for li in final["lines"]] == [Decimal("429.16"), Decimal("32.22"), Decimal("118.93"),
                                                       Decimal("54.72"), Decimal("78.73")]
    assert totals(final) == (Decimal("713.76"), Decimal("39.26"), Decimal("753.02"))
    bill(conn, OCT, date(2026, 11, 3))  # the month's run bills the newcomer only
    new = invoice_of(conn, "POL-0002", date(2026, 10, 16))
    assert [li["amount"] for li in new["lines"]] == [Decimal("469.50"), Decimal("22.50"), Decimal("83.03"),
                                                     Decimal("38.21"), Decimal("54.97")]
    assert totals(new) == (Decimal("668.21"), Decimal("36.75"), Decimal("704.96"))
    assert conn.execute("SELECT count(*) FROM invoices WHERE kind = 'invoice'").fetchone() == (2,)


def test_readings_entered_and_corrected_by_hand(conn: psycopg.Connection) -> None:
    # No remote reading on 1 November: the subscriber's own index, 495 000, then an agent's correction,
    # 495 100 (the subscriber misread a digit), which wins: 495 100 − 482 117 = 12 983 kWh × 62,35
    # = 809,490 05 → 809,49 (the subscriber's would have given 12 883 kWh → 803,26)
    # HT 809,49 + 588,18 = 1 397,67; TVA 76,871 85 → 76,87; TTC 1 474,54
    contract(conn, "POL-0001", "ABO-1", "PDL-0001", date(2025, 1, 1))
    remote(conn, "MTR-0001", OCT, "482117")
    record_reading(conn, "MTR-0001", NOV, Decimal("495000"), "subscriber", "", actor="abonne-un")
    with pytest.raises(PlausibilityWarning, match="inférieur au précédent"):  # never silently accepted
        record_reading(conn, "MTR-0001", NOV, Decimal("400000"), "manual", "", actor=ACTOR)
    with pytest.raises(PlausibilityWarning, match="au-delà de"):  # far above 137,5 kW × 745 h × 1,5
        record_reading(conn, "MTR-0001", NOV, Decimal("700000"), "manual", "", actor=ACTOR)
    saved = record_reading(conn, "MTR-0001", NOV, Decimal("495100"), "correction", "chiffre mal lu par l'abonné",
                           actor=ACTOR, read_at=datetime(2026, 11, 2, 9, 40, tzinfo=UTC))
    assert saved.warnings == ()
    bill(conn, OCT, date(2026, 11, 3))
    inv = invoice_of(conn, "POL-0001", OCT)
    assert inv["readings"]["end"]["kind"] == "correction"
    assert amounts(inv, "R1") == [Decimal("809.49")]
    assert totals(inv) == (Decimal("1397.67"), Decimal("76.87"), Decimal("1474.54"))
    audit = conn.execute("SELECT actor, action, details ->> 'reason' FROM billing_audit WHERE object_type = 'meter' "
                         "ORDER BY id").fetchall()
    assert audit == [("abonne-un", "reading_entered", ""),
                     (ACTOR, "reading_corrected", "chiffre mal lu par l'abonné")]
