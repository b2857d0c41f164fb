"""The forecasting core: recovery of known behaviour, gaps and DST, no peeking, the backtest CLI."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.backtest import backtest, metrics
from models.calendar import easter, parse_school_holidays, public_holidays
from models.errors import ModelError
from models.forecast import ForecastConfig, _predict_base, diurnal_amplitudes, fit, forecast
from models.history_csv import parse_history_csv


def synthetic(days: int = 120, tz: str = "Europe/Paris", seed: int = 3, swing_k: tuple[float, float] = (3.0, 3.0),
              amplitude_effect: float = 0.0, school: frozenset[date] = frozenset(),
              school_effect: float = 0.0) -> pd.DataFrame:
    """Load = weekly profile × exp(0.03 per kelvin below 16 °C of the 24-h smoothed temperature
    + ``amplitude_effect`` per kelvin of the day's temperature amplitude + ``school_effect`` on the
    ``school`` holiday days); each day's half-swing drawn in ``swing_k`` [K] (sunny days swing,
    overcast ones do not)."""
    index = pd.date_range("2025-10-01", periods=days * 24, freq="h", tz="UTC").tz_convert(tz)
    rng = np.random.default_rng(seed)
    hours = np.arange(len(index))
    swing = np.repeat(rng.uniform(*swing_k, days), 24)
    temp = 8 + 6 * np.sin(2 * np.pi * hours / (24 * 9)) + swing * np.sin(2 * np.pi * (hours % 24 - 9) / 24) \
        + rng.normal(0, 0.3, len(index))
    t24 = pd.Series(temp).ewm(halflife=24).mean().to_numpy()
    amplitude = diurnal_amplitudes(pd.Series(temp, index=index), 24, 24.0)["amp"].to_numpy()
    local = pd.DatetimeIndex(index)
    profile = 1 + 0.15 * np.sin(2 * np.pi * (local.hour - 5) / 24) - 0.1 * (local.day_of_week >= 5)
    closed = np.array([d in school for d in local.date], dtype=float)
    load = 50 * profile * np.exp(0.03 * np.maximum(0, 16 - t24) + amplitude_effect * amplitude + school_effect * closed)
    return pd.DataFrame({"load": load, "temperature": temp}, index=index)


def test_fit_recovers_the_temperature_sensitivity_and_profile() -> None:
    data = synthetic()
    model = fit(data, ForecastConfig(tz="Europe/Paris"))
    future = data.iloc[-24 * 14:]
    fc = forecast(model, data.iloc[:-24 * 14 + 24 * 7], future.index[24 * 6 + 12], horizon_h=36)
    truth = data["load"].reindex(fc.index)
    assert np.mean(np.abs(fc["p50"] / truth - 1)) < 0.01
    # one kelvin colder everywhere multiplies the load by exp(0.03): the fitted sensitivity
    colder = data.assign(temperature=data["temperature"] - 1.0)
    sensitivity = _predict_base(model.coef, colder, model.config) - _predict_base(model.coef, data, model.config)
    assert float(np.median(sensitivity[24 * 7:])) == pytest.approx(0.03, abs=0.005)
    assert "profile_ema24_h7" in model.parameters().index
    assert (fc["p10"] <= fc["p50"]).all()
    assert (fc["p50"] <= fc["p90"]).all()


def test_fit_recovers_the_sunshine_effect_of_the_diurnal_amplitude() -> None:
    # sunny days (wide swing) need 1 % less heat per kelvin of amplitude than overcast ones
    data = synthetic(swing_k=(0.5, 6.0), seed=5, amplitude_effect=-0.01)
    params = fit(data, ForecastConfig(tz="Europe/Paris")).parameters()
    assert params["amp"] == pytest.approx(-0.01, abs=0.001)
    assert params["amp_degree"] == pytest.approx(0.0, abs=0.0005)
    assert params["amp_ema24"] == pytest.approx(0.0, abs=0.002)


def test_fit_recovers_the_school_holiday_effect() -> None:
    school = frozenset(parse_school_holidays("start,end,description\n2025-10-18,2025-11-02,Toussaint\n"
                                             "2025-12-20,2026-01-04,Noël\n"))
    data = synthetic(school=school, school_effect=-0.05)
    params = fit(data, ForecastConfig(tz="Europe/Paris", school_holidays=school)).parameters()
    for h in range(24):  # level + hour profile: 5 % less heat at every hour of a day without school
        assert params["school_holiday"] + params[f"school_holiday_h{h}"] == pytest.approx(-0.05, abs=0.005)
    assert "school_holiday" not in fit(data, ForecastConfig(tz="Europe/Paris")).parameters().index


def test_school_holiday_file_errors_name_the_line() -> None:
    with pytest.raises(ModelError) as info:
        parse_school_holidays("start,end\n2026-02-21,2026-03-08\n2026-04-18,2026-04-03\nPâques,2026-05-03\n",
                              "zone-c.csv")
    assert "zone-c.csv:3: end 2026-04-03 is before start 2026-04-18" in str(info.value)
    assert "zone-c.csv:4: start 'Pâques' is not a date (YYYY-MM-DD)" in str(info.value)
    with pytest.raises(ModelError, match="the header must have the columns start, end"):
        parse_school_holidays("from,to\n", "zone-c.csv")


def test_weather_forecast_error_widens_the_band_not_the_forecast() -> None:
    data = synthetic()
    model = fit(data.iloc[: -24 * 7], ForecastConfig(tz="Europe/Paris"))
    issued = data.index[-24 * 7 + 12]
    exact = forecast(model, data, issued, horizon_h=48)
    unsure = forecast(model, data, issued, horizon_h=48, temperature_error_k=1.5)
    np.testing.assert_array_equal(exact["p50"].to_numpy(), unsure["p50"].to_numpy())
    assert (unsure["p10"] < exact["p10"]).all()
    assert (unsure["p90"] > exact["p90"]).all()
    # the load follows the 24-h smoothed temperature: a forecast error reaches it gradually, so the
    # extra spread grows with the horizon towards 1.28 × 1.5 K × 3 %/K (75 % of it after 48 h)
    extra = np.log(unsure["p90"] / exact["p90"]).to_numpy()
    assert extra[-1] > extra[0]
    assert float(np.log(unsure["p90"] / unsure["p50"]).iloc[-1]) > 0.7 * 1.28 * 1.5 * 0.03


def test_fit_is_deterministic_and_fast_enough_to_call() -> None:
    data = synthetic(60)
    a, b = fit(data), fit(data)
    assert np.array_equal(a.coef, b.coef)
    assert np.array_equal(a.correction, b.correction)


def test_gaps_and_dst_days_are_handled() -> None:
    data = synthetic(200)  # covers the end of October DST change
    data = data.drop(data.index[500:520])  # missing hours
    day = pd.Timestamp("2025-11-20", tz="Europe/Paris")
    data = data[(data.index < day) | (data.index >= day + pd.Timedelta(days=1))]  # a missing day
    data.loc[data.index[800:810], "temperature"] = np.nan
    model = fit(data.iloc[: 24 * 150], ForecastConfig(tz="Europe/Paris"))
    spring = pd.Timestamp("2026-03-28 12:00", tz="Europe/Paris")  # 29 March 2026 has 23 hours
    fc = forecast(model, data, spring, horizon_h=36)
    target = fc[(fc.index >= pd.Timestamp("2026-03-29", tz="Europe/Paris"))
                & (fc.index < pd.Timestamp("2026-03-30", tz="Europe/Paris"))]
    assert len(target) == 23
    assert fc["p50"].notna().all()
    autumn = backtest(data, date(2025, 10, 24), date(2025, 10, 28), ForecastConfig(tz="Europe/Paris"))
    counts = autumn.groupby(pd.DatetimeIndex(autumn["timestamp"]).tz_convert("Europe/Paris").date).size()
    assert counts[date(2025, 10, 26)] == 25  # the day the clocks go back


def test_too_little_history_is_a_clear_error() -> None:
    with pytest.raises(ModelError, match="at least 14 days"):
        fit(synthetic(5))


@settings(max_examples=5, deadline=None, derandomize=True)
@given(st.integers(min_value=0, max_value=18))  # D+1 must lie inside the 100-day history
def test_no_peeking(offset: int) -> None:
    data = synthetic(100)
    start = date(2025, 12, 20)
    day = pd.Timestamp(start, tz="Europe/Paris") + pd.Timedelta(days=offset)
    issued = day + pd.Timedelta(hours=12)
    full = backtest(data, start, date(2026, 1, 9), ForecastConfig(tz="Europe/Paris"))
    cut = data[data.index < day + pd.Timedelta(days=2)].copy()
    cut.loc[cut.index >= issued, "load"] = np.nan
    # a loud change after the issue time must not reach the forecast either
    cut.loc[cut.index >= issued, "load"] = np.nan
    partial = backtest(cut, start, (day + pd.Timedelta(days=1)).date(), ForecastConfig(tz="Europe/Paris"))
    a = full[full["issued_at"] == issued].reset_index(drop=True)
    b = partial[partial["issued_at"] == issued].reset_index(drop=True)
    assert len(a) == 24
    pd.testing.assert_frame_equal(a, b)


def test_holidays() -> None:
    assert easter(2015) == date(2015, 4, 5)
    assert easter(2026) == date(2026, 4, 5)
    assert date(2026, 7, 14) in public_holidays([2026], "FR")
    assert date(2015, 10, 3) in public_holidays([2015], "DE")
    assert date(2015, 4, 3) in public_holidays([2015], "DE")  # Good Friday


def test_history_csv_errors_name_the_line() -> None:
    text = ("timestamp,heat_load_mw,outdoor_temperature_c\n2026-01-01T00:00:00+01:00,12.5,3\n"
            "2026-01-01T01:00:00+01:00,,2.5\nnot a date,1,1\n2026-01-01T03:00:00+01:00,-4,x\n")
    with pytest.raises(ModelError) as info:
        parse_history_csv(text, "h.csv")
    message = str(info.value)
    assert "h.csv:4: timestamp 'not a date'" in message
    assert "h.csv:5: outdoor_temperature_c 'x' is not a number" in message
    assert "h.csv:5: heat_load_mw -4.0 is negative" in message


def test_backtest_cli_on_a_small_file(tmp_path: Path) -> None:
    data = synthetic(70, tz="UTC")
    history = tmp_path / "history.csv"
    pd.DataFrame({"timestamp": [t.isoformat() for t in data.index], "heat_load_mw": data["load"].round(3),
                  "outdoor_temperature_c": data["temperature"].round(2)}).to_csv(history, index=False)
    out = tmp_path / "fc.csv"
    school = tmp_path / "school.csv"
    school.write_text("start,end,description\n2025-10-18,2025-11-02,Toussaint\n")
    command = [sys.executable, "-m", "regie_chaleur.cli", "forecast", "backtest", str(history), "--test-start",
               "2025-11-25", "--test-end", "2025-12-05", "--out", str(out), "--temperature-noise", "1.5",
               "--school-holidays", str(school)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    for label in ("MAPE", "CV(RMSE)", "nMAE", "MAPE October-April", "daily-energy MAPE", "P10-P90 coverage"):
        assert label in run.stdout
    written = pd.read_csv(out)
    assert list(written.columns) == ["issued_at", "timestamp", "forecast_mw", "p10_mw", "p90_mw"]
    assert len(written) == 10 * 24
    result = metrics(written.rename(columns={"forecast_mw": "forecast", "p10_mw": "p10", "p90_mw": "p90"}).assign(
        timestamp=lambda f: pd.to_datetime(f["timestamp"], utc=True)), data["load"].tz_convert("UTC"))
    assert result["mape"] < 5
    school.write_text("start,end\n2025-10-18,2025-10-02\n")  # a bad period: named, nothing written
    out.unlink()
    bad = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert bad.returncode != 0
    assert f"{school}:2: end 2025-10-02 is before start 2025-10-18" in bad.stderr
    assert not out.exists()
