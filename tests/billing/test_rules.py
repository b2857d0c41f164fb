"""Pure billing rules: periods and prorata, formulas, estimates, identifiers, French formats, import errors."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing import fr, identifiers
from billing.consumption import estimate
from billing.errors import ContractException, ValidationError
from billing.imports import import_formulas, import_indices
from billing.indexation import check_formula
from billing.model import Component, EstimationBasis, Formula, MeterInputs, Period
from billing.money import cents, cents_exact, dec
from billing.periods import boundary, hours_in, parse_month, r2_prorata, run_period
from regie_chaleur.db.database import Database
from regie_chaleur.demo.billing import demo_index_csv, load_demo_billing
from tests.billing.support import ACTOR, setup_billing


def test_run_periods_per_frequency() -> None:
    assert run_period("monthly", date(2026, 10, 1)) == Period(date(2026, 10, 1), date(2026, 11, 1))
    assert run_period("quarterly", date(2026, 12, 1)) == Period(date(2026, 10, 1), date(2027, 1, 1))
    assert run_period("quarterly", date(2026, 11, 1)) is None
    assert run_period("yearly", date(2026, 12, 1)) == Period(date(2026, 1, 1), date(2027, 1, 1))
    with pytest.raises(ValueError, match="2026-13"):
        parse_month("2026-13")


def test_boundaries_survive_dst() -> None:
    assert boundary(date(2026, 10, 1)) == datetime(2026, 9, 30, 22, tzinfo=UTC)  # summer time
    assert boundary(date(2026, 11, 1)) == datetime(2026, 10, 31, 23, tzinfo=UTC)  # winter time
    assert hours_in(Period(date(2026, 10, 1), date(2026, 11, 1))) == 745  # the clocks go back on 25 October
    assert hours_in(Period(date(2026, 3, 1), date(2026, 4, 1))) == 743


def test_r2_prorata_both_ways() -> None:
    month, how = r2_prorata(Period(date(2026, 10, 1), date(2026, 11, 1)), "monthly_twelfth")
    assert (cents_exact(month * 1200), how) == (Decimal("100.00"), "1/12")
    part, how = r2_prorata(Period(date(2026, 10, 15), date(2026, 12, 1)), "monthly_twelfth")
    assert how == "17/31 × 1/12 + 1/12"
    assert part == Fraction(17, 372) + Fraction(1, 12)  # exact: no rounded twelfth
    days, how = r2_prorata(Period(date(2027, 12, 1), date(2028, 2, 1)), "days_in_year")
    assert how == "31/365 + 31/366"  # 2028 is a leap year
    assert days == Fraction(31, 365) + Fraction(31, 366)


def test_formula_weights_must_sum_to_one() -> None:
    good = Formula(1, "R1", None, date(2026, 1, 1), None, Decimal("0.15"), (Component("GAZ", Decimal("0.85"),
                                                                                     Decimal(100)),), 1)
    assert check_formula(good) == []
    bad = Formula(1, "R1", None, date(2026, 1, 1), None, Decimal("0.2"), (Component("GAZ", Decimal("0.85"),
                                                                                   Decimal(100)),), 1)
    assert "a + Σ b = 1.05" in check_formula(bad)[0].message


def test_estimates() -> None:
    basis = EstimationBasis(recent_kwh_per_day=Decimal(5950) / Decimal(61))
    value, how = estimate(MeterInputs(None, None, None, estimation=basis), 31)
    assert value == Decimal(3024)  # 97,54 kWh/day × 31 = 3 023,77 → 3 024
    assert "moyenne récente" in how
    with pytest.raises(ContractException) as info:
        estimate(MeterInputs(None, None, None), 31)
    assert info.value.code == "missing_reading"


def test_identifiers() -> None:
    assert identifiers.normalise_siren("841 993 215") == "841993215"
    with pytest.raises(ValueError, match="SIREN « 841993216 » invalide"):
        identifiers.normalise_siren("841993216")
    with pytest.raises(ValueError, match="n'appartient pas au SIREN"):
        identifiers.normalise_siret("84199321500018", "219400413")
    assert identifiers.vat_fr_for("841993215") == "FR38841993215"
    assert identifiers.normalise_iban("FR76 3000 1000 0000 0001 2345 608") == "FR7630001000000000012345608"
    with pytest.raises(ValueError, match="IBAN"):
        identifiers.normalise_iban("FR7630001000000000012345609")
    assert identifiers.normalise_creditor_id("DE98ZZZ09999999999") == "DE98ZZZ09999999999"
    with pytest.raises(ValueError, match="clé de contrôle"):
        identifiers.normalise_creditor_id("FR12ZZZ5A3C21")
    with pytest.raises(ValueError, match="référence de mandat"):
        identifiers.normalise_mandate_reference("RUM//2026")


def test_money_and_french_formats() -> None:
    with pytest.raises(TypeError):
        dec(0.1)  # type: ignore[arg-type]
    assert cents(Decimal("542.445")) == Decimal("542.45")
    assert fr.eur(Decimal("1234.5")) == "1\u202f234,50\xa0€"
    assert fr.number(Decimal("14.413")) == "14,413"
    assert fr.day(date(2026, 11, 25)) == "25/11/2026"
    assert fr.month(date(2026, 10, 1)) == "octobre 2026"


def test_import_errors_name_their_lines(db: Database) -> None:
    with db.pool.connection() as conn:
        setup_billing(conn)
        import_indices(conn, "series,month,value,published_on,name\nGAZ,2026-09,112.4,2026-10-12,Gaz\n", "i.csv",
                       actor=ACTOR)
        with pytest.raises(ValidationError) as info:
            import_indices(conn, "series,month,value,published_on\nGAZ,2026-09,113,2026-10-20\n"
                                 "GAZ,2026-10,abc,2026-11-12\nGAZ,2026-11,101,2026-10-01\n", "i2.csv", actor=ACTOR)
        messages = [str(e) for e in info.value.errors]
        assert messages[0].startswith("ligne 2 : value : GAZ 09/2026 est déjà publié (112.4000")
        assert "ligne 3 : value : « abc » n'est pas un nombre" in messages[1] or "abc" in messages[1]
        assert messages[2] == "ligne 4 : published_on : une valeur ne peut être publiée avant son mois"
        with pytest.raises(ValidationError) as info:
            import_formulas(conn, "term,category,valid_from,valid_to,fixed_part,lag_months,deliberation,series,"
                                  "weight,base_value\nR1,,2026-01-01,,0.2,1,CA,GAZ,0.85,100\n"
                                  "R9,,2026-01-15,,0.2,1,CA,NOPE,0.8,100\n", "f.csv", actor=ACTOR)
        text = str(info.value)
        assert "ligne 2 : weight : a + Σ b = 1.05 pour R1" in text
        assert "ligne 3 : term : « R9 » n'est pas une valeur permise" in text
        assert "ligne 3 : valid_from : doit être le premier jour d'un mois" in text
        assert "ligne 3 : series : indice NOPE inconnu" in text
        assert conn.execute("SELECT count(*) FROM indexation_formulas").fetchone() == (0,)


def test_demo_billing_set_up_is_idempotent(db: Database) -> None:
    assert "GAZ,2026-10," not in demo_index_csv(date(2026, 11, 11))  # out on 12 November
    assert "GAZ,2026-10," in demo_index_csv(date(2026, 11, 12))
    with db.pool.connection() as conn:
        conn.execute("INSERT INTO networks (code, name) VALUES ('centre', 'Centre'), ('confluences', 'Confluences')")
        load_demo_billing(conn, date(2026, 11, 26))
        counts = _counts(conn)
        load_demo_billing(conn, date(2026, 11, 26))
        assert _counts(conn) == counts
        assert counts[0] == 4 and counts[2] == 5 and counts[3] == 2  # 2025 prices; January votes: demo.year


def _counts(conn: psycopg.Connection) -> tuple[int, ...]:
    return tuple(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
                 for t in ("tariffs", "index_values", "indexation_components", "vat_periods", "category_reductions"))


@settings(max_examples=300)
@given(st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=4, allow_nan=False,
                   allow_infinity=False), st.sampled_from([None, 0, 1, 2, 3]))
def test_french_numbers_match_cldr(value: Decimal, places: int | None) -> None:
    assert fr.number(value, places) == fr.reference_number(value, places)
    assert fr.eur(value.quantize(Decimal("0.01"))) == fr.reference_eur(value.quantize(Decimal("0.01")))
