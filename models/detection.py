"""Fault-detection statistics: threshold crossing with hysteresis, frozen series. Pure functions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class Threshold:
    """Raise when the value passes ``raise_at``; clear only once it is back past ``clear_at``.

    ``direction`` "above": raise when value > raise_at, clear when value < clear_at (clear_at ≤ raise_at);
    "below": raise when value < raise_at, clear when value > clear_at (clear_at ≥ raise_at).
    A value between the two keeps the current state: a value hovering at the threshold does not flap.
    """

    raise_at: float
    clear_at: float
    direction: Literal["above", "below"] = "above"

    def next_state(self, active: bool, value: float | None) -> bool:
        """Whether the condition is active after observing ``value`` (None: no data, state kept)."""
        if value is None or not np.isfinite(value):
            return active
        if self.direction == "above":
            return value > self.raise_at if not active else value >= self.clear_at
        return value < self.raise_at if not active else value <= self.clear_at


def is_frozen(values: np.ndarray, min_samples: int = 12, tolerance: float = 1e-6) -> bool:
    """A sensor repeating the same value for at least ``min_samples`` consecutive good samples."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) < min_samples:
        return False
    tail = v[-min_samples:]
    return bool(np.ptp(tail) <= tolerance)
