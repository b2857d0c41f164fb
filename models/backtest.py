"""The day-ahead evaluation protocol, and its metrics.

For each day D of [test_start, test_end), a forecast is issued at 12:00 of D (in the timestamps' own
offset) for the 24 hours of D+1 (horizons 13-36 h). It uses the loads stamped before the issue time and
the outdoor temperature of every hour (optionally with forecast-like noise, whose standard deviation
the model is told, as an application knows its weather provider's accuracy: it widens the band, not
the forecast). The model is refitted every
``refit_days`` on everything before the refit's issue time; the refit schedule depends only on
``test_start``, so a day's forecast does not change when the file is cut at that day's issue time.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pandas as pd

from models.errors import ModelError
from models.forecast import ForecastConfig, HeatLoadModel, fit, forecast, regularise


def issue_times(index: pd.DatetimeIndex, test_start: date, test_end: date, tz: str | None = None
                ) -> list[pd.Timestamp]:
    """12:00 of each day D of [test_start, test_end) (``--test-end`` exclusive), in ``tz`` or else
    the timestamps' own offset."""
    zone = tz or index.tz
    days = (test_end - test_start).days
    return [pd.Timestamp(d.year, d.month, d.day, 12, tz=zone)
            for d in (test_start + timedelta(days=i) for i in range(days))]


def noisy_temperatures(temp: pd.Series, issued: pd.Timestamp, sigma_k: float, seed: int) -> pd.Series:
    """Temperatures with forecast-like error after ``issued``: AR(1) noise (φ = 0.95 per hour) with a
    stationary standard deviation ``sigma_k`` [K], seeded per issue time (deterministic)."""
    if sigma_k <= 0:
        return temp
    out = temp.copy()
    future = out.index >= issued
    n = int(future.sum())
    rng = np.random.default_rng([seed, int(issued.timestamp())])
    phi = 0.95
    e = np.empty(n)
    level = rng.normal(0, sigma_k)
    for i in range(n):
        e[i] = level
        level = phi * level + rng.normal(0, sigma_k * np.sqrt(1 - phi**2))
    out[future] = out[future].to_numpy() + e
    return out


def backtest(history: pd.DataFrame, test_start: date, test_end: date, config: ForecastConfig | None = None,
             refit_days: int = 7, temperature_noise_k: float = 0.0, seed: int = 2015) -> pd.DataFrame:
    """Forecasts under the protocol: columns issued_at, timestamp, forecast, p10, p90 [MW]."""
    config = config or ForecastConfig()
    frame = regularise(history)
    issues = issue_times(pd.DatetimeIndex(frame.index), test_start, test_end, config.tz)
    rows = []
    model: HeatLoadModel | None = None
    for i, issued in enumerate(issues):
        if model is None or i % refit_days == 0:
            model = fit(frame[frame.index < issued], config)
        target_day = (issued + pd.DateOffset(days=1)).normalize()  # midnight of D+1, local
        day_end = target_day + pd.DateOffset(days=1)
        # the hours up to the end of D+1, nothing later: the forecast is what a file cut there gives
        day = frame[frame.index < day_end].copy()
        day["temperature"] = noisy_temperatures(day["temperature"], issued, temperature_noise_k, seed)
        fc = forecast(model, day, issued, horizon_h=38,  # D+1 may have 25 hours
                      temperature_error_k=temperature_noise_k)
        fc = fc[fc.index >= target_day]
        for t, r in fc.iterrows():
            rows.append((issued, t, r["p50"], r["p10"], r["p90"]))
    if not rows:
        raise ModelError("no forecast issued: the test period is empty")
    return pd.DataFrame(rows, columns=["issued_at", "timestamp", "forecast", "p10", "p90"])


def metrics(forecasts: pd.DataFrame, actual: pd.Series) -> dict[str, float]:
    """MAPE, CV(RMSE), nMAE, October-April MAPE, daily-energy MAPE [%], P10-P90 coverage [%]."""
    f = forecasts.set_index("timestamp")
    y = actual.reindex(f.index)
    ok = y.notna() & (y > 0)
    f, y = f[ok], y[ok]
    err = f["forecast"] - y
    months = pd.DatetimeIndex(f.index).month
    heating = np.isin(months, [10, 11, 12, 1, 2, 3, 4])
    day = pd.DatetimeIndex(f.index).normalize()
    daily = pd.DataFrame({"f": f["forecast"].to_numpy(), "y": y.to_numpy(), "d": day})
    counts = daily.groupby("d")["y"].count()
    full = counts[counts == 24].index
    sums = daily[daily["d"].isin(full)].groupby("d")[["f", "y"]].sum()
    return {
        "mape": float(100 * np.mean(np.abs(err / y))),
        "cvrmse": float(100 * np.sqrt(np.mean(err**2)) / y.mean()),
        "nmae": float(100 * np.mean(np.abs(err)) / y.mean()),
        "mape_heating": float(100 * np.mean(np.abs(err[heating] / y[heating]))),
        "mape_daily": float(100 * np.mean(np.abs((sums["f"] - sums["y"]) / sums["y"]))),
        "coverage_p10_p90": float(100 * np.mean((y >= f["p10"]) & (y <= f["p90"]))),
    }


def with_holidays(config: ForecastConfig, holidays: set[date]) -> ForecastConfig:
    return replace(config, holidays=frozenset(holidays))
