"""Proof of repair: did a substation's indicators change after an intervention, weather-corrected?

Each daily indicator (flow-weighted primary ΔT [K], flow-weighted return temperature [°C], and the
relative residual of the energy to the heat signature [-]) is modelled on the days *before* the
intervention as a straight line of the day's mean outdoor temperature [°C] (a constant when the days
before do not span 3 K of weather). The days *after* are compared with what that line expects for
their own weather: the effect is the mean of (after − expected) less the mean residual before.

An effect counts when it is larger than twice its standard error (Welch: the residuals' spreads before
and after, each over its number of days) and larger than the indicator's practical threshold (a
change no engineer would act on is not an improvement). The verdict is **verified** when at least one
indicator improved and none worsened, **no_effect** otherwise, **insufficient** when fewer than
``min_before`` days before or ``min_after`` days after have the indicators.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

Verdict = Literal["verified", "no_effect", "insufficient"]
Change = Literal["better", "worse", "same"]


@dataclass(frozen=True)
class Indicator:
    """What is compared: a column of the daily frame, whether higher is better, its practical threshold."""

    column: str
    higher_is_better: bool
    min_effect: float  # in the column's unit


INDICATORS = (
    Indicator("delta_t", True, 1.0),  # [K]
    Indicator("t_return", False, 1.0),  # [°C]
    Indicator("signature_residual", False, 0.05),  # [-] share of the expected energy
)


@dataclass(frozen=True)
class IndicatorEvidence:
    column: str
    before_mean: float  # mean over the days before, in the column's unit
    after_mean: float
    expected_after: float  # what the days before expect for the days after's weather
    effect: float  # (after − expected) − mean residual before
    standard_error: float
    change: Change
    intercept: float  # the days before's line: expected = intercept + slope × outdoor temperature
    slope: float


@dataclass(frozen=True)
class RepairEvidence:
    verdict: Verdict
    days_before: int
    days_after: int
    indicators: list[IndicatorEvidence] = field(default_factory=list)


def compare_before_after(before: pd.DataFrame, after: pd.DataFrame, *, min_before: int = 5,
                         min_after: int = 3, z: float = 2.0) -> RepairEvidence:
    """Compare the days after an intervention with the days before.

    Args:
        before, after: one row per day with ``t_outdoor`` [°C] and any of the indicators' columns
            (``delta_t`` [K], ``t_return`` [°C], ``signature_residual`` [-]); missing values are skipped.
        min_before, min_after: days needed on each side for an indicator to be judged.
        z: how many standard errors an effect must exceed.
    """
    found: list[IndicatorEvidence] = []
    for ind in INDICATORS:
        if ind.column not in before or ind.column not in after:
            continue
        b = before[["t_outdoor", ind.column]].dropna()
        a = after[["t_outdoor", ind.column]].dropna()
        if len(b) < min_before or len(a) < min_after:
            continue
        found.append(_judge(ind, b, a, z))
    days_before = int(before.dropna(subset=["t_outdoor"]).shape[0])
    days_after = int(after.dropna(subset=["t_outdoor"]).shape[0])
    if not found:
        return RepairEvidence("insufficient", days_before, days_after, [])
    changes = {e.change for e in found}
    verdict: Verdict = "verified" if "better" in changes and "worse" not in changes else "no_effect"
    return RepairEvidence(verdict, days_before, days_after, found)


def _judge(ind: Indicator, b: pd.DataFrame, a: pd.DataFrame, z: float) -> IndicatorEvidence:
    xb, yb = b["t_outdoor"].to_numpy(float), b[ind.column].to_numpy(float)
    xa, ya = a["t_outdoor"].to_numpy(float), a[ind.column].to_numpy(float)
    if float(np.ptp(xb)) >= 3.0:
        slope, intercept = (float(v) for v in np.polyfit(xb, yb, 1))
    else:
        slope, intercept = 0.0, float(yb.mean())
    res_b = yb - (intercept + slope * xb)
    expected = intercept + slope * xa
    res_a = ya - expected
    effect = float(res_a.mean() - res_b.mean())
    se = math.sqrt(_var(res_b) / len(res_b) + _var(res_a) / len(res_a))
    change: Change = "same"
    if abs(effect) > z * se and abs(effect) >= ind.min_effect:
        improved = effect > 0 if ind.higher_is_better else effect < 0
        change = "better" if improved else "worse"
    return IndicatorEvidence(ind.column, float(yb.mean()), float(ya.mean()), float(expected.mean()), effect,
                             se, change, intercept, slope)


def _var(values: np.ndarray) -> float:
    return float(values.var(ddof=1)) if len(values) > 1 else 0.0
