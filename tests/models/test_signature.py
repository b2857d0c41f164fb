"""Degree days (COSTIC), weather normalisation, signature fit, anomalies and drift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.degree_days import daily_degree_days, degree_days_costic, weather_normalised
from models.errors import ModelError
from models.signature import anomalies, compare_signatures, fit_signature


def test_costic_degree_days() -> None:
    assert degree_days_costic(2.0, 8.0) == 13.0  # Tmax ≤ 18: 18 − mean
    assert degree_days_costic(19.0, 27.0) == 0.0
    assert degree_days_costic(10.0, 20.0) == pytest.approx(8 * (0.08 + 0.42 * 8 / 10))
    series = daily_degree_days(pd.Series([2.0, 19.0, 10.0]), pd.Series([8.0, 27.0, 20.0]))
    assert series.tolist() == pytest.approx([13.0, 0.0, 8 * (0.08 + 0.42 * 0.8)])


def test_weather_normalisation_scales_only_the_heating_part() -> None:
    assert weather_normalised(1000.0, 200.0, dju_actual=400.0, dju_reference=500.0) == pytest.approx(1200.0)
    assert weather_normalised(100.0, 200.0, 400.0, 500.0) == 200.0


def synthetic(base: float, slope: float, limit: float, noise: float, seed: int = 1) -> tuple[pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    t = pd.Series(rng.uniform(-8, 28, 300))
    e = pd.Series(base + slope * np.maximum(0, limit - t) + rng.normal(0, noise, 300))
    return t, e


def test_fit_recovers_known_parameters() -> None:
    t, e = synthetic(base=800.0, slope=120.0, limit=16.0, noise=20.0)
    sig = fit_signature(t, e)
    assert sig.base_kwh_day == pytest.approx(800, rel=0.05)
    assert sig.slope_kwh_day_k == pytest.approx(120, rel=0.03)
    assert sig.limit_c == pytest.approx(16, abs=0.5)
    assert sig.sigma_kwh_day == pytest.approx(20, rel=0.2)
    assert fit_signature(t, e) == sig  # deterministic


def test_anomalies_and_drift() -> None:
    t, e = synthetic(800.0, 120.0, 16.0, 20.0)
    sig = fit_signature(t, e)
    e2 = e.copy()
    e2.iloc[[5, 50]] += 1000
    found = anomalies(sig, t, e2, k=4.0)
    assert list(found.index) == [5, 50]
    fouled = fit_signature(*synthetic(800.0, 150.0, 16.0, 20.0, seed=2))
    assert compare_signatures(sig, fouled).drifted
    assert compare_signatures(sig, fouled).slope_change == pytest.approx(0.25, abs=0.05)
    assert compare_signatures(sig, fouled).energy_change[0.0] == pytest.approx(480 / 2720, abs=0.03)
    assert not compare_signatures(sig, fit_signature(*synthetic(800.0, 121.0, 16.0, 20.0, seed=3))).drifted


def test_too_few_days_is_a_clear_error() -> None:
    with pytest.raises(ModelError, match="at least 20 days"):
        fit_signature(pd.Series([1.0, 2.0]), pd.Series([3.0, 4.0]))
