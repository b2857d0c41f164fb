"""Golden invoices: each case computed by hand from the rules (arithmetic in the comments), to the cent.

Tariff of every case (copropriété, 2025 deliberation): R1 62,35 €/MWh; R21 5,812, R22 21,45, R23 9,87,
R24 14,20 €/kW/an; R2 prorated by twelfths of a month (a full month is 1/12). Subscribed power 137,5 kW.
The network's renewable-and-recovered share is 75 %: R1 and R2 at 5,5 % unless the case changes it.
A full October at 137,5 kW gives the R2 lines (137,5 × price / 12, each rounded half-up to the cent):
R21 799,15/12 = 66,595 → 66,60; R22 2 949,375/12 = 245,781 → 245,78; R23 1 357,125/12 = 113,094 → 113,09;
R24 1 952,5/12 = 162,708 → 162,71; together 588,18 €.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal

import psycopg
import pytest

from billing.credit import credit_invoice
from billing.errors import StateError
from billing.imports import import_formulas, import_indices
from billing.issuing import issue_run
from billing.meters import record_reading
from billing.model import Period
from billing.records import change_power
from billing.regie import save_reduction, save_vat_period
from billing.runs import simulate_run
from regie_chaleur.db.database import Database
from tests.billing.support import (
    ACTOR,
    R2_OCTOBER_FULL,
    amounts,
    contract,
    invoice_of,
    remote,
    setup_billing,
    subscriber,
)

OCT, NOV = date(2026, 10, 1), date(2026, 11, 1)
RUN_DATE = date(2026, 11, 3)


@pytest.fixture
def conn(db: Database) -> Iterator[psycopg.Connection]:
    with db.pool.connection() as c:
        setup_billing(c)
        yield c


def bill(conn: psycopg.Connection, month: date, run_date: date = RUN_DATE, **kw: object) -> None:
    summary = simulate_run(conn, month, actor=ACTOR, run_date=run_date, **kw)  # type: ignore[arg-type]
    assert summary.blocking == 0, summary.exceptions
    issue_run(conn, summary.run_id, actor=ACTOR, now=datetime.combine(run_date, time(9), UTC))


def full_october(conn: psycopg.Connection, number: str = "POL-0001", point: str = "PDL-0001",
                 meter: str = "MTR-0001", **extra: object) -> None:
    subscriber(conn, "ABO-1")
    contract(conn, number, "ABO-1", point, date(2025, 1, 1), **extra)  # type: ignore[arg-type]
    remote(conn, meter, OCT, "482117")
    remote(conn, meter, NOV, "496530")


def test_monthly_contract(conn: psycopg.Connection) -> None:
    # 496 530 − 482 117 = 14 413 kWh = 14,413 MWh × 62,35 = 898,650 55 → 898,65
    # HT 898,65 + 588,18 = 1 486,83; TVA 5,5 % = 81,775 65 → 81,78; TTC 1 568,61
    full_october(conn)
    bill(conn, OCT)
    inv = invoice_of(conn, "POL-0001", OCT)
    assert inv["number"] == "FAC-2026-000001"
    assert [li["kind"] for li in inv["lines"]] == ["R1", "R21", "R22", "R23", "R24"]
    assert inv["lines"][0]["quantity"] == Decimal("14.413")
    assert amounts(inv, "R1") == [Decimal("898.65")]
    assert tuple(li["amount"] for li in inv["lines"][1:]) == R2_OCTOBER_FULL
    assert (inv["total_ht"], inv["total_vat"], inv["total_ttc"]) == (Decimal("1486.83"), Decimal("81.78"),
                                                                      Decimal("1568.61"))
    assert inv["readings"]["start"]["kind"] == "actual"
    assert inv["due_date"] == inv["issue_date"].fromordinal(inv["issue_date"].toordinal() + 30)


def test_contract_starting_mid_month(conn: psycopg.Connection) -> None:
    # supplied 15-31 October: 17 days → R2 × 17/31 × 1/12 = 17/372
    # R1 8 650 − 1 000 = 7 650 kWh → 7,65 × 62,35 = 476,977 5 → 476,98
    # R21 799,15 × 17/372 = 36,520 → 36,52; R22 2 949,375 × 17/372 = 134,783 → 134,78;
    # R23 1 357,125 × 17/372 = 62,019 → 62,02; R24 1 952,5 × 17/372 = 89,227 → 89,23
    # HT 799,53; TVA 43,974 → 43,97; TTC 843,50
    subscriber(conn, "ABO-2")
    contract(conn, "POL-0002", "ABO-2", "PDL-0002", date(2026, 10, 15))
    remote(conn, "MTR-0002", date(2026, 10, 15), "1000")
    remote(conn, "MTR-0002", NOV, "8650")
    bill(conn, OCT)
    inv = invoice_of(conn, "POL-0002", date(2026, 10, 15))
    assert (inv["period_start"], inv["period_end"]) == (date(2026, 10, 15), NOV)
    assert amounts(inv, "R1") == [Decimal("476.98")]
    assert [li["amount"] for li in inv["lines"][1:]] == [Decimal("36.52"), Decimal("134.78"), Decimal("62.02"),
                                                         Decimal("89.23")]
    assert (inv["total_ht"], inv["total_vat"], inv["total_ttc"]) == (Decimal("799.53"), Decimal("43.97"),
                                                                      Decimal("843.50"))


def test_power_change_mid_period(conn: psycopg.Connection) -> None:
    # 137,5 kW for 1-19 October (19/372), 110 kW from 20 October (12/372):
    # 137,5: R21 40,82 R22 150,64 R23 69,32 R24 99,72; 110: R21 20,62 R22 76,11 R23 35,02 R24 50,39
    # HT 898,65 + 542,64 = 1 441,29; TVA 79,270 95 → 79,27; TTC 1 520,56
    full_october(conn)
    change_power(conn, "POL-0001", date(2026, 10, 20), Decimal("110"), "audit de puissance (D.241-37)", actor=ACTOR)
    bill(conn, OCT)
    inv = invoice_of(conn, "POL-0001", OCT)
    assert amounts(inv, "R21") == [Decimal("40.82"), Decimal("20.62")]
    assert amounts(inv, "R22") == [Decimal("150.64"), Decimal("76.11")]
    assert amounts(inv, "R23") == [Decimal("69.32"), Decimal("35.02")]
    assert amounts(inv, "R24") == [Decimal("99.72"), Decimal("50.39")]
    assert [li["quantity"] for li in inv["lines"] if li["kind"] == "R22"] == [Decimal("137.5"), Decimal("110")]
    assert (inv["total_ht"], inv["total_vat"], inv["total_ttc"]) == (Decimal("1441.29"), Decimal("79.27"),
                                                                      Decimal("1520.56"))


INDICES = """series,month,value,published_on,name,source
GAZ,2026-09,112.4,2026-10-12,Indice gaz naturel,INSEE 010534766
GAZ,2026-10,105.7,2026-11-12,Indice gaz naturel,INSEE 010534766
ICHT,2026-08,126.3,2026-10-15,Coût horaire du travail IME,INSEE 001565183
ICHT,2026-09,126.9,2026-11-14,Coût horaire du travail IME,INSEE 001565183
"""
FORMULAS = """term,category,valid_from,valid_to,fixed_part,lag_months,deliberation,series,weight,base_value
R1,copropriete,2026-01-01,,0.15,1,CA-2025-12,GAZ,0.85,100
R22,,2026-01-01,,0.2,2,CA-2025-12,ICHT,0.8,120
"""


def test_index_revision(conn: psycopg.Connection) -> None:
    # October (lag 1 → GAZ of September 112,4): R1 = 62,35 × (0,15 + 0,85 × 112,4/100) = 62,35 × 1,1054
    #   = 68,921 69 → 68,9217 €/MWh; 14,413 × 68,9217 = 993,368 46 → 993,37
    # R22 (lag 2 → ICHT of August 126,3) = 21,45 × (0,2 + 0,8 × 126,3/120) = 21,45 × 1,042 = 22,3509;
    #   137,5 × 22,3509 / 12 = 256,104 → 256,10
    # November: GAZ October 105,7 → 62,35 × 1,048 45 = 65,370 857 5 → 65,3709; ICHT September 126,9 →
    #   21,45 × 1,046 = 22,4367
    import_indices(conn, INDICES, "indices.csv", actor=ACTOR)
    import_formulas(conn, FORMULAS, "formules.csv", actor=ACTOR)
    full_october(conn)
    remote(conn, "MTR-0001", date(2026, 12, 1), "509000")
    bill(conn, OCT)
    october = invoice_of(conn, "POL-0001", OCT)
    r1 = october["lines"][0]
    assert (r1["unit_price"], r1["amount"]) == (Decimal("68.9217"), Decimal("993.37"))
    r22 = next(li for li in october["lines"] if li["kind"] == "R22")
    assert (r22["unit_price"], r22["amount"]) == (Decimal("22.3509"), Decimal("256.10"))
    assert next(li for li in october["lines"] if li["kind"] == "R21")["unit_price"] == Decimal("5.8120")  # not indexed
    bill(conn, NOV, run_date=date(2026, 12, 2))
    november = invoice_of(conn, "POL-0001", NOV)
    assert november["lines"][0]["unit_price"] == Decimal("65.3709")
    assert next(li for li in november["lines"] if li["kind"] == "R22")["unit_price"] == Decimal("22.4367")
    # an index value used by an issued invoice can never change, even for the database's owner
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="facture émise"):
        conn.execute("UPDATE index_values SET value = 113 WHERE series = 'GAZ' AND month = '2026-09-01'")


def test_index_not_yet_published_is_an_exception(conn: psycopg.Connection) -> None:
    import_indices(conn, INDICES, "indices.csv", actor=ACTOR)
    import_formulas(conn, FORMULAS, "formules.csv", actor=ACTOR)
    full_october(conn)
    # the ICHT of August, due for October (two months' lag), is published late this year: 5 November
    conn.execute("UPDATE index_values SET published_on = '2026-11-05' WHERE series = 'ICHT' AND month = '2026-08-01'")
    summary = simulate_run(conn, OCT, actor=ACTOR, run_date=date(2026, 11, 3))
    assert summary.invoices == 0
    (exc,) = summary.exceptions
    assert exc.code == "index_missing" and exc.blocking
    assert "ICHT" in exc.message and "publiée le 05/11/2026" in exc.message


def test_estimated_then_actual_reading(conn: psycopg.Connection) -> None:
    # October 2025 billed on actual readings: 110 000 − 100 000 = 10 000 kWh.
    # October 2026: the reading of 1 November is missing → estimate = same period last year × degree days
    #   10 000 × 180,0 / 200,0 = 9 000 kWh → 9,000 × 62,35 = 561,15; HT 1 149,33; TVA 63,213 → 63,21
    # November 2026: the actual 1 November reading (259 400) has arrived → regularisation of the estimate
    #   259 000 (estimated): +400 kWh × 62,35 = 24,94 at the October price; November itself
    #   271 000 − 259 400 = 11 600 kWh → 723,26; HT 723,26 + 24,94 + 588,18 = 1 336,38; TVA 73,500 9 → 73,50
    subscriber(conn, "ABO-1")
    contract(conn, "POL-0001", "ABO-1", "PDL-0001", date(2025, 10, 1))
    remote(conn, "MTR-0001", date(2025, 10, 1), "100000")
    remote(conn, "MTR-0001", date(2025, 11, 1), "110000")
    bill(conn, date(2025, 10, 1), run_date=date(2025, 11, 3))
    remote(conn, "MTR-0001", OCT, "250000")
    dju = {Period(OCT, NOV): Decimal("180.0"), Period(date(2025, 10, 1), date(2025, 11, 1)): Decimal("200.0")}
    summary = simulate_run(conn, OCT, actor=ACTOR, run_date=RUN_DATE, degree_days=lambda _net, p: dju.get(p))
    assert [(e.code, e.blocking) for e in summary.exceptions] == [("warning", False)]
    assert "estimé" in summary.exceptions[0].message and "180" in summary.exceptions[0].message
    issue_run(conn, summary.run_id, actor=ACTOR, now=datetime(2026, 11, 3, 9, tzinfo=UTC))
    october = invoice_of(conn, "POL-0001", OCT)
    assert october["readings"]["end"]["kind"] == "estimated"
    assert Decimal(october["readings"]["end"]["index_kwh"]) == Decimal("259000")
    assert amounts(october, "R1") == [Decimal("561.15")]
    assert (october["total_ht"], october["total_vat"]) == (Decimal("1149.33"), Decimal("63.21"))
    remote(conn, "MTR-0001", NOV, "259400")  # replayed from a collector's buffer
    remote(conn, "MTR-0001", date(2026, 12, 1), "271000")
    bill(conn, NOV, run_date=date(2026, 12, 2))
    november = invoice_of(conn, "POL-0001", NOV)
    assert amounts(november, "R1") == [Decimal("723.26")]
    reg = next(li for li in november["lines"] if li["kind"] == "regularisation")
    assert (reg["quantity"], reg["unit_price"], reg["amount"]) == (Decimal("0.400"), Decimal("62.3500"),
                                                                   Decimal("24.94"))
    assert "FAC-2026-000001" in reg["label"]
    assert (november["total_ht"], november["total_vat"], november["total_ttc"]) == (
        Decimal("1336.38"), Decimal("73.50"), Decimal("1409.88"))


def test_register_rollover(conn: psycopg.Connection) -> None:
    # capacity 1 000 000 kWh: 995 500 → 4 200 is 1 000 000 − 995 500 + 4 200 = 8 700 kWh
    # 8,7 × 62,35 = 542,445 → 542,45 (half-up; banker's rounding would give 542,44)
    subscriber(conn, "ABO-1")
    contract(conn, "POL-0001", "ABO-1", "PDL-0001", date(2025, 1, 1))
    remote(conn, "MTR-0001", OCT, "995500")
    remote(conn, "MTR-0001", NOV, "4200")
    bill(conn, OCT)
    inv = invoice_of(conn, "POL-0001", OCT)
    assert inv["lines"][0]["quantity"] == Decimal("8.700")
    assert amounts(inv, "R1") == [Decimal("542.45")]
    assert inv["readings"]["segments"][0]["rollover"] is True


def test_meter_replacement(conn: psycopg.Connection) -> None:
    # old meter 600 000 → 611 250 (replaced on 16 October), new one 12 → 7 512 on 1 November:
    # 11 250 + 7 500 = 18 750 kWh → 18,75 × 62,35 = 1 169,062 5 → 1 169,06
    from regie_chaleur.services.meters import replace_meter

    subscriber(conn, "ABO-1")
    contract(conn, "POL-0001", "ABO-1", "PDL-0001", date(2025, 1, 1))
    remote(conn, "MTR-0001", OCT, "600000")
    replace_meter(conn, "PDL-0001", datetime(2026, 10, 16, 8, tzinfo=UTC), Decimal("611250"), "MTR-SPARE",
                  Decimal("12"), actor=ACTOR)
    remote(conn, "MTR-SPARE", NOV, "7512")
    bill(conn, OCT)
    inv = invoice_of(conn, "POL-0001", OCT)
    assert Decimal(inv["readings"]["consumption_kwh"]) == Decimal("18750")
    assert [s["meter"] for s in inv["readings"]["segments"]] == ["MTR-0001", "MTR-SPARE"]
    assert amounts(inv, "R1") == [Decimal("1169.06")]
    assert inv["buyer"]["meter"] == "MTR-SPARE"


def test_vat_at_20_percent_below_half_renewable(conn: psycopg.Connection) -> None:
    # from October the share falls to 45 %: R1 at 20 %, R2 still at 5,5 %
    # TVA 20 % × 898,65 = 179,73; 5,5 % × 588,18 = 32,349 9 → 32,35; TVA 212,08; TTC 1 698,91
    conn.execute("UPDATE vat_periods SET valid_to = '2026-10-01'")
    save_vat_period(conn, "centre", OCT, None, Decimal("45"), "Arrêt technique de l'UVE, bilan prévisionnel",
                    actor=ACTOR)
    full_october(conn)
    bill(conn, OCT)
    inv = invoice_of(conn, "POL-0001", OCT)
    assert inv["lines"][0]["vat_rate"] == Decimal("20.00")
    assert {li["vat_rate"] for li in inv["lines"][1:]} == {Decimal("5.50")}
    assert inv["vat"] == {Decimal("20.00"): (Decimal("898.65"), Decimal("179.73")),
                          Decimal("5.50"): (Decimal("588.18"), Decimal("32.35"))}
    assert (inv["total_ht"], inv["total_vat"], inv["total_ttc"]) == (Decimal("1486.83"), Decimal("212.08"),
                                                                      Decimal("1698.91"))


def test_social_category_reduction(conn: psycopg.Connection) -> None:
    # logement social: 10 % off R2 by deliberation: −10 % × 588,18 = −58,818 → −58,82
    # HT 898,65 + 588,18 − 58,82 = 1 428,01; TVA 78,540 55 → 78,54; TTC 1 506,55
    save_reduction(conn, "logement_social", date(2026, 1, 1), None, Decimal("10"), "R2", "CA-2025-13",
                   actor=ACTOR)
    full_october(conn, category="logement_social")
    bill(conn, OCT)
    inv = invoice_of(conn, "POL-0001", OCT)
    assert amounts(inv, "reduction") == [Decimal("-58.82")]
    assert "CA-2025-13" in inv["lines"][-1]["label"]
    assert (inv["total_ht"], inv["total_vat"], inv["total_ttc"]) == (Decimal("1428.01"), Decimal("78.54"),
                                                                      Decimal("1506.55"))


def test_credit_notes_full_with_corrected_invoice_and_partial(conn: psycopg.Connection) -> None:
    # full credit of the October invoice (TTC 1 568,61), then the corrected invoice on the agent's reading
    # of 1 November (496 130 instead of 496 530): 14 013 kWh → 873,71; HT 1 461,89; TVA 80,40; TTC 1 542,29
    full_october(conn)
    bill(conn, OCT)
    record_reading(conn, "MTR-0001", date(2026, 11, 1), Decimal("496130"), "correction",
                   "l'index télérelevé était faux", actor=ACTOR, confirm=True)
    result = credit_invoice(conn, "FAC-2026-000001", actor=ACTOR, reason="index de fin erroné", reissue=True,
                            now=datetime(2026, 11, 10, 9, tzinfo=UTC))
    assert (result.credit_note_number, result.total_ttc, result.full) == ("AVO-2026-000001", Decimal("1568.61"),
                                                                         True)
    assert result.corrected_invoice_number == "FAC-2026-000002"
    note = invoice_of(conn, "POL-0001", OCT, kind="credit_note")
    original = conn.execute("SELECT id FROM invoices WHERE number = 'FAC-2026-000001'").fetchone()
    assert original is not None and note["corrects_invoice_id"] == original[0]
    assert note["vat"] == {Decimal("5.50"): (Decimal("1486.83"), Decimal("81.78"))}
    corrected = invoice_of(conn, "POL-0001", OCT)
    assert corrected["number"] == "FAC-2026-000002"
    assert corrected["readings"]["end"]["kind"] == "correction"
    assert amounts(corrected, "R1") == [Decimal("873.71")]
    assert (corrected["total_ht"], corrected["total_vat"], corrected["total_ttc"]) == (
        Decimal("1461.89"), Decimal("80.40"), Decimal("1542.29"))
    # a partial credit: 100,00 € off the corrected R1 line: TVA 5,50, TTC 105,50; the month stays billed
    partial = credit_invoice(conn, "FAC-2026-000002", actor=ACTOR, reason="geste commercial",
                             lines={1: Decimal("100.00")})
    assert (partial.credit_note_number, partial.total_ttc, partial.full) == ("AVO-2026-000002", Decimal("105.50"),
                                                                           False)
    with pytest.raises(StateError, match="au plus 773,71\xa0€"):
        credit_invoice(conn, "FAC-2026-000002", actor=ACTOR, reason="trop", lines={1: Decimal("800")})
    billed = conn.execute("SELECT count(*) FROM billed_months WHERE released_by IS NULL").fetchone()
    assert billed == (1,)
