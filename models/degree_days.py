"""Heating degree days (DJU, degrés-jours unifiés) by the COSTIC method, and weather normalisation.

COSTIC method, base S = 18 °C, from a day's minimum and maximum outdoor temperature [°C]:

- Tmax ≤ S: DJU = S − (Tmin + Tmax) / 2
- Tmin ≥ S: DJU = 0
- otherwise: DJU = (S − Tmin) × (0.08 + 0.42 × (S − Tmin) / (Tmax − Tmin))
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BASE_C = 18.0


def degree_days_costic(t_min: float, t_max: float, base: float = BASE_C) -> float:
    """DJU of one day [K·day] from its minimum and maximum outdoor temperature [°C]."""
    if t_max < t_min:
        t_min, t_max = t_max, t_min
    if t_max <= base:
        return base - (t_min + t_max) / 2
    if t_min >= base:
        return 0.0
    return (base - t_min) * (0.08 + 0.42 * (base - t_min) / (t_max - t_min))


def daily_degree_days(t_min: pd.Series, t_max: pd.Series, base: float = BASE_C) -> pd.Series:
    """DJU per day [K·day] for aligned series of daily minima and maxima [°C] (vectorised)."""
    lo = np.minimum(t_min.to_numpy(float), t_max.to_numpy(float))
    hi = np.maximum(t_min.to_numpy(float), t_max.to_numpy(float))
    mean = (lo + hi) / 2
    spread = np.where(hi > lo, hi - lo, 1.0)
    mixed = (base - lo) * (0.08 + 0.42 * (base - lo) / spread)
    dju = np.where(hi <= base, base - mean, np.where(lo >= base, 0.0, mixed))
    return pd.Series(dju, index=t_min.index, name="dju")


def weather_normalised(energy: float, base_load: float, dju_actual: float, dju_reference: float) -> float:
    """Energy of a period as if its weather had been the reference's [same unit as ``energy``].

    The heating part (energy above the weather-independent ``base_load`` of the period) scales with
    the ratio of reference to actual degree days; the base load (hot water, losses) does not.
    """
    heating = max(0.0, energy - base_load)
    if dju_actual <= 0:
        return energy
    return base_load + heating * dju_reference / dju_actual
