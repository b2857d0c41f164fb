"""Quality flags carried by every sample (stored as smallint)."""

from __future__ import annotations

from enum import IntEnum


class Quality(IntEnum):
    """Why a value can or cannot be trusted. Bad values are kept and flagged, never dropped."""

    GOOD = 0
    INVALID = 1  # a sentinel meaning "no value", NaN, or garbage that cannot be a number
    OUT_OF_RANGE = 2  # decoded, but outside the point's valid range (the value is kept)
    COUNTER_BACKWARDS = 3  # a monotonic counter went down without a plausible rollover (value kept)
    COUNTER_ROLLOVER = 4  # a counter wrapped past its rollover value (value kept as read)
    COMM_ERROR = 5  # no value: timeout, connection lost or Modbus exception

    @property
    def label(self) -> str:
        return self.name.lower()
