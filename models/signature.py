"""Substation energy signatures: daily energy against outdoor temperature, piecewise linear.

Model, for a day of mean outdoor temperature T [°C]::

    E(T) = base + slope × max(0, limit − T)        [kWh/day]

``base`` is the weather-independent load (hot water, losses) [kWh/day], ``slope`` the heating
sensitivity [kWh/day/K] and ``limit`` the heating limit [°C], fitted by a grid search over the limit
with a linear least-squares fit of base and slope at each candidate (exact and deterministic). The
residual standard deviation gives a band; a day whose residual exceeds ``k`` σ is an anomaly. Two
signatures of the same substation are compared season on season to report drift (fouling, a
controller change): a slope or base that moved by more than a tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.errors import ModelError


@dataclass(frozen=True)
class Signature:
    base_kwh_day: float  # [kWh/day] at and above the heating limit
    slope_kwh_day_k: float  # [kWh/day/K] per kelvin below the limit
    limit_c: float  # [°C] heating limit
    sigma_kwh_day: float  # [kWh/day] residual standard deviation
    days: int  # days used

    def predict(self, t_outdoor: np.ndarray | pd.Series | float) -> np.ndarray:
        """Expected daily energy [kWh/day] at daily mean outdoor temperatures [°C]."""
        t = np.asarray(t_outdoor, dtype=float)
        return np.asarray(self.base_kwh_day + self.slope_kwh_day_k * np.maximum(0.0, self.limit_c - t))

    def design_power_kw(self, design_outdoor_c: float) -> float:
        """Mean power on a day at the design outdoor temperature [kW]."""
        return float(self.predict(design_outdoor_c)) / 24.0


def fit_signature(t_outdoor: pd.Series, energy: pd.Series, limits: np.ndarray | None = None,
                  min_days: int = 20) -> Signature:
    """Fit a signature to aligned daily mean temperatures [°C] and daily energies [kWh/day].

    Raises:
        ModelError: fewer than ``min_days`` usable days, or no temperature spread below a limit.
    """
    frame = pd.DataFrame({"t": t_outdoor, "e": energy}).dropna()
    if len(frame) < min_days:
        raise ModelError(f"signature needs at least {min_days} days with data, got {len(frame)}")
    t, e = frame["t"].to_numpy(float), frame["e"].to_numpy(float)
    candidates = np.arange(8.0, 22.01, 0.25) if limits is None else limits
    best: tuple[float, float, float, float] | None = None
    for limit in candidates:
        x = np.maximum(0.0, limit - t)
        if np.ptp(x) == 0:
            continue
        design = np.column_stack([np.ones_like(x), x])
        coef, *_ = np.linalg.lstsq(design, e, rcond=None)
        if coef[1] < 0:
            continue
        sse = float(np.sum((design @ coef - e) ** 2))
        if best is None or sse < best[0] - 1e-9:
            best = (sse, float(coef[0]), float(coef[1]), float(limit))
    if best is None:
        raise ModelError("no heating-limit candidate gives a positive heating slope")
    sse, base, slope, limit = best
    sigma = float(np.sqrt(sse / max(1, len(frame) - 3)))
    return Signature(base, slope, limit, sigma, len(frame))


def anomalies(signature: Signature, t_outdoor: pd.Series, energy: pd.Series, k: float = 3.0,
              min_band_kwh_day: float = 0.0) -> pd.DataFrame:
    """Days whose energy is more than ``k`` σ (at least ``min_band_kwh_day``) from the signature.

    Returns:
        A frame indexed like the input with ``expected``, ``residual`` and ``band`` [kWh/day], only
        for the anomalous days.
    """
    expected = pd.Series(signature.predict(t_outdoor), index=t_outdoor.index)
    residual = energy - expected
    band = max(k * signature.sigma_kwh_day, min_band_kwh_day)
    out = pd.DataFrame({"expected": expected, "residual": residual, "band": band})
    return out[residual.abs() > band]


@dataclass(frozen=True)
class Drift:
    slope_change: float  # relative change of the heating slope (0.15 = +15 %)
    base_change: float  # relative change of the base load
    limit_change_k: float  # [K] change of the heating limit
    energy_change: dict[float, float]  # reference temperature [°C] -> relative change of expected energy
    drifted: bool


def compare_signatures(before: Signature, after: Signature, tolerance: float = 0.15,
                       reference_c: tuple[float, ...] = (0.0, 5.0)) -> Drift:
    """Season-on-season drift: the expected daily energy at reference outdoor temperatures moved by
    more than ``tolerance`` (relative). Judged on predictions, not on the parameters, because a season
    that never crosses the heating limit leaves the limit and base poorly determined while their
    predictions at heating temperatures stay exact."""
    def rel(a: float, b: float) -> float:
        return (b - a) / a if a else 0.0

    changes = {t: rel(float(before.predict(t)), float(after.predict(t))) for t in reference_c}
    return Drift(rel(before.slope_kwh_day_k, after.slope_kwh_day_k), rel(before.base_kwh_day, after.base_kwh_day),
                 after.limit_c - before.limit_c, changes, any(abs(c) > tolerance for c in changes.values()))
