"""bench/forecast: the project's model against naive baselines, a linear regression and gradient
boosting, all under the day-ahead protocol, on the Flensburg data (fit on 2014, test on 2015).

Every method sees the same thing at each issue time (12:00 of day D, targets the 24 hours of D+1): the
loads before the issue time and the temperature of every hour (exact, then with forecast-like noise of
σ = 1.5 K); every fitted method is refitted weekly on everything before the issue time. P10/P90 of the
peers come from their relative errors over the training year (the project's model makes its own).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import record, table
from bench.flensburg import load_flensburg
from models.backtest import backtest, issue_times, metrics, noisy_temperatures
from models.calendar import public_holidays
from models.forecast import (
    AMPLITUDE_HALF_LIFE_H,
    AMPLITUDE_WINDOW_H,
    ForecastConfig,
    diurnal_amplitudes,
    fit,
    regularise,
)

TRAIN_END = date(2015, 1, 1)
TEST_START, TEST_END = date(2015, 1, 1), date(2016, 1, 1)
REFIT_DAYS = 7
Predictor = Callable[[pd.DataFrame, pd.Timestamp, pd.DatetimeIndex], np.ndarray]


def features(frame: pd.DataFrame, holidays: frozenset[date], amplitude: bool = False) -> pd.DataFrame:
    """Calendar and temperature features shared by the linear and GBM peers (``amplitude``: also the
    project's diurnal temperature amplitude and its smoothing, for the GBM variant that has them)."""
    t = frame["temperature"].interpolate(limit=6, limit_area="inside").ffill().bfill()
    idx = pd.DatetimeIndex(frame.index)
    out = pd.DataFrame(index=frame.index)
    out["t"] = t
    for h in (6, 24, 72):
        out[f"ema{h}"] = t.ewm(halflife=h).mean()
    out["hour"] = idx.hour
    holiday = np.array([d in holidays for d in idx.date])
    out["dow"] = np.where(holiday, 6, idx.day_of_week)
    out["holiday"] = holiday.astype(float)
    out["doy_sin"] = np.sin(2 * np.pi * idx.day_of_year / 365.25)
    out["doy_cos"] = np.cos(2 * np.pi * idx.day_of_year / 365.25)
    if amplitude:
        for name, series in diurnal_amplitudes(frame["temperature"], AMPLITUDE_WINDOW_H, AMPLITUDE_HALF_LIFE_H).items():
            out[name] = series.to_numpy()
    return out


def lagged(frame: pd.DataFrame, issued: pd.Timestamp, targets: pd.DatetimeIndex) -> pd.DataFrame:
    """Load features known at ``issued`` (hourly, complete grid): the last observed load, the last-24 h
    mean, the same hour on the latest observed day and one week before the target, the horizon."""
    load = frame["load"].to_numpy(float)
    p = int(frame.index.get_indexer([issued])[0])
    t = frame.index.get_indexer(targets)
    past = load[max(0, p - 24):p]
    out = pd.DataFrame(index=targets)
    out["last"] = load[p - 1]
    out["mean24"] = np.nanmean(past) if np.isfinite(past).any() else np.nan
    days_back = np.ceil((t - p) / 24).astype(int)
    out["same_hour_latest"] = load[t - 24 * days_back]
    out["same_hour_week"] = load[t - 168]
    out["horizon"] = t - p
    return out


def run_protocol(frame: pd.DataFrame, predictor: Callable[[pd.Timestamp], Predictor | None],
                 days: tuple[date, date], noise_k: float) -> pd.DataFrame:
    """Issue a forecast each day of ``days``; ``predictor(issued)`` returns a (re)fitted predictor."""
    rows = []
    model: Predictor | None = None
    for i, issued in enumerate(issue_times(pd.DatetimeIndex(frame.index), *days)):
        if model is None or i % REFIT_DAYS == 0:
            model = predictor(issued) or model
        target_day = (issued + pd.Timedelta(days=1)).normalize()
        targets = pd.date_range(target_day, periods=24, freq="h")
        targets = targets[targets <= frame.index[-1]]
        if len(targets) == 0:  # D+1 beyond the data
            continue
        view = frame[frame.index < target_day + pd.Timedelta(days=1)].copy()
        view.loc[view.index >= issued, "load"] = np.nan
        view["temperature"] = noisy_temperatures(view["temperature"], issued, noise_k, 2015)
        assert model is not None
        rows += [(issued, t, p) for t, p in zip(targets, model(view, issued, targets), strict=True)]
    return pd.DataFrame(rows, columns=["issued_at", "timestamp", "forecast"])


def with_band(forecasts: pd.DataFrame, train_errors: pd.Series) -> pd.DataFrame:
    lo, hi = np.quantile(train_errors.dropna(), [0.1, 0.9])
    out = forecasts.copy()
    out["p10"], out["p90"] = out["forecast"] * (1 + lo), out["forecast"] * (1 + hi)
    return out


def naive(kind: str) -> Callable[[pd.Timestamp], Predictor]:
    def make(_issued: pd.Timestamp) -> Predictor:
        def predict(view: pd.DataFrame, issued: pd.Timestamp, targets: pd.DatetimeIndex) -> np.ndarray:
            lag = lagged(view, issued, targets)
            return lag["same_hour_latest" if kind == "latest" else "same_hour_week"].to_numpy(float)
        return predict
    return make


_PAIRS: dict[tuple[int, int], tuple[pd.DataFrame, np.ndarray, np.ndarray]] = {}


def all_pairs(frame: pd.DataFrame, feats: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(features, load, target time) for every 12:00 issue of the data and its 24 targets (built once)."""
    key = (id(frame), id(feats))
    if key not in _PAIRS:
        xs, ys, ts = [], [], []
        for issued in pd.date_range(frame.index[0].normalize() + pd.Timedelta(days=8, hours=12),
                                    frame.index[-1] - pd.Timedelta(hours=36), freq="D"):
            targets = pd.date_range((issued + pd.Timedelta(days=1)).normalize(), periods=24, freq="h")
            xs.append(pd.concat([feats.reindex(targets), lagged(frame, issued, targets)], axis=1))
            ys.append(frame["load"].reindex(targets).to_numpy(float))
            ts.append(targets.as_unit("ns").asi8)  # UTC nanoseconds
        _PAIRS[key] = (pd.concat(xs), np.concatenate(ys), np.concatenate(ts))
    return _PAIRS[key]


def training_pairs(frame: pd.DataFrame, feats: pd.DataFrame, until: pd.Timestamp) -> tuple[pd.DataFrame, np.ndarray]:
    """The pairs whose target is before ``until`` (the loads known at that issue time)."""
    x, y, targets = all_pairs(frame, feats)
    keep = targets < until.as_unit("ns").value
    return x[keep], y[keep]


def linear_design(x: pd.DataFrame) -> np.ndarray:
    how = np.eye(168)[(x["dow"] * 24 + x["hour"]).astype(int)]
    hinges = np.column_stack([np.maximum(0, k - x[s]) for s in ("t", "ema24") for k in (18, 12, 6, 0)])
    return np.column_stack([how, hinges, x["mean24"].to_numpy(float)])


def linear(frame: pd.DataFrame, feats: pd.DataFrame) -> tuple[Callable[[pd.Timestamp], Predictor], list[float]]:
    times: list[float] = []

    def make(issued: pd.Timestamp) -> Predictor:
        started = time.perf_counter()
        x, y = training_pairs(frame, feats, issued)
        ok = np.isfinite(y) & x.notna().all(axis=1).to_numpy()
        coef, *_ = np.linalg.lstsq(linear_design(x[ok]), y[ok], rcond=None)
        times.append(time.perf_counter() - started)

        def predict(view: pd.DataFrame, issued: pd.Timestamp, targets: pd.DatetimeIndex) -> np.ndarray:
            f = features(view, HOLIDAYS).reindex(targets)
            return linear_design(pd.concat([f, lagged(view, issued, targets)], axis=1).fillna(0)) @ coef
        return predict
    return make, times


def gbm(frame: pd.DataFrame, feats: pd.DataFrame, amplitude: bool = False
        ) -> tuple[Callable[[pd.Timestamp], Predictor], list[float]]:
    from sklearn.ensemble import HistGradientBoostingRegressor

    times: list[float] = []

    def make(issued: pd.Timestamp) -> Predictor:
        started = time.perf_counter()
        x, y = training_pairs(frame, feats, issued)
        ok = np.isfinite(y)
        model = HistGradientBoostingRegressor(max_iter=500, learning_rate=0.05, random_state=0)
        model.fit(x[ok], y[ok])
        times.append(time.perf_counter() - started)

        def predict(view: pd.DataFrame, issued: pd.Timestamp, targets: pd.DatetimeIndex) -> np.ndarray:
            f = features(view, HOLIDAYS, amplitude).reindex(targets)
            return np.asarray(model.predict(pd.concat([f, lagged(view, issued, targets)], axis=1)))
        return predict
    return make, times


HOLIDAYS = frozenset(public_holidays(range(2013, 2017), "DE"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--noise", default="0,1.5", help="temperature noise levels [K]")
    args = parser.parse_args()
    frame = regularise(load_flensburg())
    feats = features(frame, HOLIDAYS)
    actual = frame["load"]
    train_days = (date(2014, 10, 1), TRAIN_END)
    results = []
    two_years = []
    for _ in range(3):  # the issue's speed figure: a refit on two years of hourly history
        started = time.perf_counter()
        fit(frame, ForecastConfig(holidays=HOLIDAYS))
        two_years.append(time.perf_counter() - started)
    print(f"  project fit on two years ({len(frame)} hours): {min(two_years):.3f} s (best of 3)", flush=True)
    for noise in (float(x) for x in args.noise.split(",")):
        config = ForecastConfig(holidays=HOLIDAYS)
        started = time.perf_counter()
        fit(frame[frame.index < pd.Timestamp(TRAIN_END, tz=frame.index.tz)], config)
        fit_s = time.perf_counter() - started
        project = backtest(frame, TEST_START, TEST_END, config, refit_days=REFIT_DAYS, temperature_noise_k=noise)
        results.append(("project", noise, metrics(project, actual), fit_s))
        print("  project", noise, results[-1][2], flush=True)
        for name, make, times in (("same_hour_latest", naive("latest"), None),
                                  ("same_hour_last_week", naive("week"), None),
                                  ("linear", *linear(frame, feats)),
                                  ("gbm", *gbm(frame, feats))):
            test = run_protocol(frame, make, (TEST_START, TEST_END), noise)
            train = run_protocol(frame, make, train_days, noise)
            train_err = (actual.reindex(train["timestamp"]).to_numpy() - train["forecast"].to_numpy()) / train[
                "forecast"].to_numpy()
            m = metrics(with_band(test, pd.Series(train_err)), actual)
            results.append((name, noise, m, float(np.median(times)) if times else 0.0))
            print(" ", name, noise, m, flush=True)
    # the same GBM given the project's diurnal amplitude too: is the gain the feature's or the model's?
    feats_amplitude = features(frame, HOLIDAYS, amplitude=True)
    gbm_amplitude = metrics(with_band(run_protocol(frame, gbm(frame, feats_amplitude, amplitude=True)[0],
                                                   (TEST_START, TEST_END), 0.0), pd.Series([0.0])), actual)
    print("  gbm with the diurnal amplitude 0.0", gbm_amplitude, flush=True)
    rows = [{"method": name, "temperature_noise_k": noise, **{k: round(v, 2) for k, v in m.items()},
             "fit_s": round(fit_s, 3)} for name, noise, m, fit_s in results]
    body = table(["method", "temperature noise K", "MAPE %", "CV(RMSE) %", "nMAE %", "MAPE Oct-Apr %",
                  "daily MAPE %", "P10-P90 coverage %", "fit s"],
                 [[r["method"], r["temperature_noise_k"], r["mape"], r["cvrmse"], r["nmae"], r["mape_heating"],
                   r["mape_daily"], r["coverage_p10_p90"], r["fit_s"]] for r in rows])
    body += ("\n\nFlensburg district heating, fit on 2014, test on 2015, day-ahead protocol (issued 12:00 of D "
             "for the 24 h of D+1, loads before the issue only, refit every 7 days). Reference figures "
             "(shared/reference): same hour latest day 10.33 %, same hour last week 17.77 %, linear 9.18 %, "
             "GBM 6.67 % MAPE. fit s: one fit on the training data (the project's includes its corrections "
             "and error bands; the peers' the median of their weekly refits). With noise, the project is "
             "told the noise's standard deviation (its band widens; its forecast does not change). "
             f"The project's fit on both years ({len(frame)} hours): {min(two_years):.3f} s, best of 3. "
             "The project's model also reads the diurnal temperature amplitude (a sunshine proxy); the same GBM "
             f"given it too reaches a MAPE of {gbm_amplitude['mape']:.2f} % (no noise), daily MAPE "
             f"{gbm_amplitude['mape_daily']:.2f} %.")
    record("forecast", "Forecast: day-ahead heat load on real network data", body,
           {"train": "2014-01-01/2015-01-01", "test": "2015-01-01/2016-01-01", "rows": rows})


if __name__ == "__main__":
    main()
