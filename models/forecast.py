"""Hourly heat-load forecasting with SciPy: a designed basis fitted by weighted least squares, a
horizon-dependent correction from the latest observed load, and calibrated P10/P90.

The model is multiplicative (fitted on the logarithm of the load, so its errors are relative, like
the MAPE it is judged by). For an hour t with local hour-of-week w(t) (holidays count as Sundays)::

    log base(t) = α[w] + Σ_s Σ_k β[s,k] · max(0, K_k − T_s(t))
                  + Σ_h 1[hour(t) = h] · (γ24[h] · max(0, L − T_24(t)) + γ6[h] · max(0, L − T_6(t)))
                  + Σ_j (c_j sin 2πj·doy/365.25 + d_j cos 2πj·doy/365.25) + δ · holiday(t)
                  + school(t) · (ς + Σ_h 1[hour(t) = h] · ς[h])
                  + Σ_h 1[hour(t) = h] · (σ[h] sin 2π·doy/365.25 + κ[h] cos 2π·doy/365.25)
                  + Σ_a (η[a] + θ[a] · max(0, L − T_24(t))) · A_a(t)

- ``α`` (168 values): the weekly profile, what the network draws at each hour of the week;
- ``T_s``: the outdoor temperature and its exponential smoothings with half-lives of 6, 24 and 72 h
  [°C] (buildings and the network store heat, so yesterday's cold still draws today);
- ``β[s,k]`` [1/K]: hinge slopes at knots K = 18, 12, 6, 0 °C, a piecewise-linear heating curve
  whose first knot is the heating limit;
- ``γ24``, ``γ6`` [1/K]: how the daily profile deepens with the heating degree on the 24-h and 6-h
  smoothings (profiles change with temperature), around L = 16 °C;
- ``c_j, d_j`` (two harmonics): the annual cycle that temperature does not explain (solar gains,
  daylight, hot-water demand, network temperatures);
- ``δ``: the holiday effect beyond treating the day as a Sunday;
- (when school holidays are given) ``ς`` + ``ς[h]`` [-]: the level and daily profile of school
  holiday days (schools and their canteens closed, families away), a term of its own since a school
  holiday is a working day for everyone else;
- ``σ``, ``κ`` (24 + 24 values): the daily profile's seasonal drift that temperature does not explain
  (daylight moves the morning peak; the hot-water share of the load grows in summer);
- ``A``: the diurnal temperature amplitude [K], the range of the outdoor temperature over the 24 hours
  centred on t, and its exponential smoothing (half-life 24 h). It stands in for the sunshine that no
  temperature series carries: clear skies make warm afternoons and cold nights, overcast ones a flat
  day. Sunny days bring solar gains (less heat for the same mean temperature), and the buildings'
  mass carries them over to the next day. ``η`` [1/K] is that effect and ``θ`` [1/K²] how it grows
  with the heating degree. The centred window reads up to 12 h of temperatures ahead: the forecast
  has them (a weather forecast), and at the end of the given temperatures the window shrinks.

Fitted by weighted least squares (normal equations solved with ``scipy.linalg.solve``), rows
weighted to forget slowly (half-life ``memory_days``). The hinge slopes are not bounded one by one:
the smoothings are collinear, so only their sum has a sign (colder means more heat); bounding each
made the day-ahead error worse on real data. Then for each horizon k (hours after the last observed
load), the log-error of the base is corrected by a linear function of six recent residuals: the last
observed hour's, the mean of the last 24 h, the mean of the last 168 h, the residuals at the same hour
of day on the two latest observed days, and their mean over the latest seven; the coefficients, fitted
per horizon, carry the most recent load's information and decay with the horizon. P10 and P90 are the
forecast times the 10 % and 90 % quantiles of the relative errors of the corrected forecasts over the
history, per 12-hour band of horizons, widened by the weather forecast's error when one is given.
Everything is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
from scipy.linalg import solve

from models.errors import ModelError

KNOTS_C = (18.0, 12.0, 6.0, 0.0)
HALF_LIVES_H = (6.0, 24.0, 72.0)
AMPLITUDE_WINDOW_H = 24
AMPLITUDE_HALF_LIFE_H = 24.0
PROFILE_LIMIT_C = 16.0
MAX_HORIZON_H = 168
HORIZON_BAND_H = 12
N_RECENT = 6  # recent-residual features of the horizon correction
SAME_HOUR_DAYS = 7  # days averaged in the same-hour residual feature
Z_P90 = 1.2816  # the 90 % quantile of the standard normal


@dataclass(frozen=True)
class ForecastConfig:
    """Knobs of the model (defaults from the literature, see the module docstring)."""

    knots_c: tuple[float, ...] = KNOTS_C
    half_lives_h: tuple[float, ...] = HALF_LIVES_H
    profile_limit_c: float = PROFILE_LIMIT_C
    max_horizon_h: int = MAX_HORIZON_H
    tz: str | None = None  # local time for the calendar; None: the timestamps' own offset
    holidays: frozenset[date] = field(default_factory=frozenset)  # public holidays (as Sundays)
    school_holidays: frozenset[date] = field(default_factory=frozenset)  # days without school
    quantile_low: float = 0.10
    quantile_high: float = 0.90
    annual_harmonics: int = 2
    amplitude_window_h: int = AMPLITUDE_WINDOW_H  # centred window of the diurnal amplitude [h]; 0: none
    amplitude_half_life_h: float = AMPLITUDE_HALF_LIFE_H  # its smoothing [h]
    memory_days: float = 180.0  # half-life of the weights of past hours [days]


@dataclass(frozen=True)
class HeatLoadModel:
    """A fitted model: base coefficients, horizon corrections and relative error quantiles."""

    config: ForecastConfig
    columns: tuple[str, ...]
    coef: np.ndarray  # per design column [MW or MW/K]
    correction: np.ndarray  # (24, max_horizon, N_RECENT): per hour of the last observation and horizon k = 1..max
    rel_quantiles: np.ndarray  # (max_horizon, 2): relative error quantiles (low, high) per horizon
    fitted_until: pd.Timestamp

    def parameters(self) -> pd.Series:
        """The base coefficients by name, for inspection."""
        return pd.Series(self.coef, index=list(self.columns))


# --- features ------------------------------------------------------------------------------------
def _temperatures(temp: pd.Series, half_lives: Iterable[float]) -> pd.DataFrame:
    t = temp.interpolate(limit=6, limit_area="inside").ffill().bfill()
    out = {"t": t}
    for h in half_lives:
        out[f"ema{int(h)}"] = t.ewm(halflife=h, adjust=True).mean()
    return pd.DataFrame(out)


def diurnal_amplitudes(temp: pd.Series, window_h: int, half_life_h: float) -> pd.DataFrame:
    """The diurnal amplitude [K]: max − min of the temperature over the ``window_h`` hours centred on
    each hour (at least half of them known), and its exponential smoothing (half-life ``half_life_h``)."""
    t = temp.interpolate(limit=6, limit_area="inside").ffill().bfill()
    rolling = t.rolling(window_h, center=True, min_periods=window_h // 2)
    amplitude = (rolling.max() - rolling.min()).bfill().ffill()
    return pd.DataFrame({"amp": amplitude, f"amp_ema{half_life_h:g}": amplitude.ewm(halflife=half_life_h).mean()})


def _local(index: pd.DatetimeIndex, tz: str | None) -> pd.DatetimeIndex:
    return index.tz_convert(tz) if tz else index


def design(frame: pd.DataFrame, config: ForecastConfig) -> tuple[np.ndarray, list[str]]:
    """The design matrix of ``frame`` (hourly, column ``temperature`` [°C]) and its column names."""
    temps = _temperatures(frame["temperature"], config.half_lives_h)
    local = _local(pd.DatetimeIndex(frame.index), config.tz)
    holiday = np.array([d in config.holidays for d in local.date])
    dow = np.where(holiday, 6, local.day_of_week)
    hour = np.asarray(local.hour)
    how = dow * 24 + hour
    n = len(frame)
    blocks = [np.eye(168)[how]]
    names = [f"how_{i}" for i in range(168)]
    for s in temps.columns:
        for k in config.knots_c:
            blocks.append(np.maximum(0.0, k - temps[s].to_numpy())[:, None])
            names.append(f"hinge_{s}_{k:g}")
    for s in (f"ema{int(config.half_lives_h[1])}", f"ema{int(config.half_lives_h[0])}"):
        degree = np.maximum(0.0, config.profile_limit_c - temps[s].to_numpy())
        blocks.append(np.eye(24)[hour] * degree[:, None])
        names += [f"profile_{s}_h{h}" for h in range(24)]
    doy = np.asarray(local.day_of_year, dtype=float)
    for j in range(1, config.annual_harmonics + 1):
        blocks.append(np.column_stack([np.sin(2 * np.pi * j * doy / 365.25), np.cos(2 * np.pi * j * doy / 365.25)]))
        names += [f"annual_sin{j}", f"annual_cos{j}"]
    blocks.append(holiday.astype(float).reshape(n, 1))
    names.append("holiday")
    if config.school_holidays:
        school = np.array([d in config.school_holidays for d in local.date], dtype=float)
        blocks += [school.reshape(n, 1), np.eye(24)[hour] * school[:, None]]
        names += ["school_holiday"] + [f"school_holiday_h{h}" for h in range(24)]
    if config.amplitude_window_h:
        degree = np.maximum(0.0, config.profile_limit_c - temps[f"ema{int(config.half_lives_h[1])}"].to_numpy())
        amplitudes = diurnal_amplitudes(frame["temperature"], config.amplitude_window_h,
                                        config.amplitude_half_life_h)
        for a, series in amplitudes.items():
            blocks.append(np.column_stack([series.to_numpy(), series.to_numpy() * degree]))
            names += [f"{a}", f"{a}_degree"]
    for fn in (np.sin, np.cos):
        blocks.append(np.eye(24)[hour] * fn(2 * np.pi * doy / 365.25)[:, None])
        names += [f"profile_season_{fn.__name__}_h{h}" for h in range(24)]
    return np.hstack(blocks), names


def _fit_base(frame: pd.DataFrame, config: ForecastConfig) -> tuple[np.ndarray, list[str]]:
    x, names = design(frame, config)
    y = frame["load"].to_numpy(float)
    ok = np.isfinite(y) & (y > 0) & np.all(np.isfinite(x), axis=1)
    if ok.sum() < 24 * 14:
        raise ModelError(f"the forecast model needs at least 14 days of load history, got {ok.sum()} hours")
    age_days = ((frame.index[-1] - frame.index) / pd.Timedelta(days=1)).to_numpy(float)
    w = np.sqrt(0.5 ** (age_days[ok] / config.memory_days))
    xw = x[ok] * w[:, None]
    gram = xw.T @ xw
    ridge = 1e-8 * np.trace(gram) / len(gram)  # numerical safety only
    coef = solve(gram + ridge * np.eye(len(gram)), xw.T @ (np.log(y[ok]) * w), assume_a="pos")
    return np.asarray(coef), names


def _window_means(resid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At each position, the mean residual of the 24 and the 168 hours ending there, and of the same
    hour on the :data:`SAME_HOUR_DAYS` days ending there (missing hours skipped; 0 when none)."""
    known = np.isfinite(resid)
    csum = np.concatenate([[0.0], np.cumsum(np.where(known, resid, 0.0))])
    cnt = np.concatenate([[0.0], np.cumsum(known)])
    end = np.arange(len(resid))
    out = []
    for width in (24, 168):
        lo = np.maximum(0, end + 1 - width)
        n = cnt[end + 1] - cnt[lo]
        out.append(np.where(n > 0, (csum[end + 1] - csum[lo]) / np.maximum(n, 1), 0.0))
    total, seen = np.zeros(len(resid)), np.zeros(len(resid))
    for d in range(SAME_HOUR_DAYS):
        total[24 * d:] += np.where(known, resid, 0.0)[: len(resid) - 24 * d]
        seen[24 * d:] += known[: len(resid) - 24 * d]
    out.append(np.where(seen > 0, total / np.maximum(seen, 1), 0.0))
    return out[0], out[1], out[2]


def _recent(resid: np.ndarray, means: tuple[np.ndarray, np.ndarray, np.ndarray], last: np.ndarray,
            target: np.ndarray) -> np.ndarray:
    """The six recent-residual features for last observed positions ``last`` and ``target``
    positions: r_last, mean 24 h, mean 168 h, the same hour of day on the latest two observed days,
    and the mean at that hour over the latest :data:`SAME_HOUR_DAYS` days (missing skipped)."""
    same = target - 24 * np.ceil((target - last) / 24).astype(int)
    feats = np.column_stack([resid[last], means[0][last], means[1][last], resid[np.clip(same, 0, None)],
                             resid[np.clip(same - 24, 0, None)], means[2][np.clip(same, 0, None)]])
    return np.asarray(np.nan_to_num(feats), dtype=float)


def _fit_correction(frame: pd.DataFrame, log_base: np.ndarray, max_h: int, q_low: float = 0.1,
                    q_high: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """Correction coefficients per hour of day of the last observed hour and per horizon k
    (shape (24, max_h, N_RECENT), least squares over every (last observed hour, hour k later) pair of
    the history), and the relative error quantiles (low, high) of the corrected forecasts per
    horizon, pooled in 12-hour bands."""
    resid = np.log(frame["load"].to_numpy(float)) - log_base
    means = _window_means(resid)
    n = len(resid)
    hod = np.asarray(pd.DatetimeIndex(frame.index).hour)
    observed = np.flatnonzero(np.isfinite(resid))
    observed = observed[np.argsort(hod[observed], kind="stable")]  # grouped by hour of day
    out = np.zeros((24, max_h, N_RECENT))
    errors: dict[int, list[np.ndarray]] = {}
    ridge = 1e-9 * np.eye(N_RECENT)
    for k in range(1, max_h + 1):
        last = observed[observed + k < n]
        last = last[np.isfinite(resid[last + k])]
        feats = _recent(resid, means, last, last + k)
        y = resid[last + k]
        bounds = np.searchsorted(hod[last], np.arange(25))
        fitted = np.empty(len(last))
        for h in range(24):
            rows = slice(bounds[h], bounds[h + 1])
            if bounds[h + 1] > bounds[h]:
                f = feats[rows]
                out[h, k - 1] = np.linalg.solve(f.T @ f + ridge, f.T @ y[rows])
                fitted[rows] = f @ out[h, k - 1]
        err = np.exp(y - fitted) - 1.0
        errors.setdefault((k - 1) // HORIZON_BAND_H, []).append(err[:: max(1, len(err) // 2000)])
    quantiles = np.zeros((max_h, 2))
    for band, parts in errors.items():
        pooled = np.concatenate(parts)
        quantiles[band * HORIZON_BAND_H:(band + 1) * HORIZON_BAND_H] = (
            np.quantile(pooled, [q_low, q_high]) if len(pooled) else (-0.1, 0.1))
    return out, quantiles


def _predict_base(model_coef: np.ndarray, frame: pd.DataFrame, config: ForecastConfig) -> np.ndarray:
    """log of the base load [log MW]."""
    x, _ = design(frame, config)
    return np.asarray(x @ model_coef)


def fit(history: pd.DataFrame, config: ForecastConfig | None = None) -> HeatLoadModel:
    """Fit on hourly ``history`` (tz-aware index; ``load`` [MW] with NaN for gaps, ``temperature`` [°C]).

    Raises:
        ModelError: too little history, or a non-hourly or naive index.
    """
    config = config or ForecastConfig()
    frame = regularise(history)
    coef, names = _fit_base(frame, config)
    base = _predict_base(coef, frame, config)
    correction, quantiles = _fit_correction(frame, base, config.max_horizon_h, config.quantile_low,
                                            config.quantile_high)
    return HeatLoadModel(config, tuple(names), coef, correction, quantiles, frame.index[-1])


def regularise(history: pd.DataFrame) -> pd.DataFrame:
    """Sort, drop duplicate stamps and reindex to a complete hourly grid (missing hours become NaN)."""
    if not isinstance(history.index, pd.DatetimeIndex) or history.index.tz is None:
        raise ModelError("history needs a timezone-aware DatetimeIndex")
    frame = history[~history.index.duplicated(keep="first")].sort_index()
    grid = pd.date_range(frame.index[0], frame.index[-1], freq="h")
    return frame.reindex(grid)[["load", "temperature"]]


def forecast(model: HeatLoadModel, history: pd.DataFrame, issued_at: pd.Timestamp,
             horizon_h: int = 24 * 7, temperature_error_k: float = 0.0) -> pd.DataFrame:
    """P10/P50/P90 [MW] for the ``horizon_h`` hours after ``issued_at``.

    ``history`` must hold the temperature [°C] of every hour up to the last target (measured, then
    forecast) and the loads; loads stamped at or after ``issued_at`` are ignored, whatever they are.
    ``temperature_error_k`` [K] is the standard deviation of the forecast temperatures' error: the
    band then also carries the load's response to it (the model's sensitivity to a 1 K shift of every
    forecast hour, times the error, in quadrature with the band learnt on measured temperatures).

    Returns:
        A frame indexed by target hour with ``p10``, ``p50``, ``p90`` and ``horizon_h``.
    """
    config = model.config
    horizon_h = min(horizon_h, config.max_horizon_h)
    frame = regularise(history)
    end = issued_at + pd.Timedelta(hours=horizon_h)
    frame = frame[frame.index < end].copy()
    frame.loc[frame.index >= issued_at, "load"] = np.nan  # no peeking, by construction
    frame = frame[frame.index >= issued_at - pd.Timedelta(days=30)]  # enough for smoothings and r_24
    log_base = _predict_base(model.coef, frame, config)
    resid = np.log(frame["load"].to_numpy(float)) - log_base
    targets = pd.date_range(issued_at.ceil("h"), end - pd.Timedelta(hours=1), freq="h")
    targets = targets[targets <= frame.index[-1]]  # no temperature, no forecast
    pos = frame.index.get_indexer(targets)
    log_p50 = log_base[pos]
    observed = np.flatnonzero(np.isfinite(resid))
    if len(observed):
        last = int(observed[-1])
        k = np.clip(pos - last, 1, config.max_horizon_h)
        feats = _recent(resid, _window_means(resid), np.full(len(pos), last), pos)
        hour = int(pd.DatetimeIndex(frame.index)[last].hour)
        log_p50 = log_p50 + np.sum(model.correction[hour, k - 1] * feats, axis=1)
    p50 = np.exp(log_p50)
    k_target = np.clip(np.asarray(((targets - issued_at) / pd.Timedelta(hours=1)).astype(int)) + 1,
                       1, config.max_horizon_h) - 1
    low, high = np.log1p(model.rel_quantiles[k_target, 0]), np.log1p(model.rel_quantiles[k_target, 1])
    if temperature_error_k > 0:
        warmer = frame.copy()
        warmer.loc[warmer.index >= issued_at, "temperature"] += 1.0
        sensitivity = np.abs(_predict_base(model.coef, warmer, config)[pos] - log_base[pos])  # [1/K]
        spread = Z_P90 * temperature_error_k * sensitivity
        low, high = -np.hypot(low, spread), np.hypot(high, spread)
    return pd.DataFrame({"p10": p50 * np.exp(low), "p50": p50, "p90": p50 * np.exp(high),
                         "horizon_h": k_target + 1}, index=targets)
