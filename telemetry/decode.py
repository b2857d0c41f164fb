"""Registers to physical values and back; quality flags; counter checks. Pure functions.

Byte orders for multi-register values, with A the most significant byte:

- ``ABCD``: big-endian words in big-endian order (the Modbus default);
- ``CDAB``: word swap (low word first);
- ``BADC``: byte swap inside each word;
- ``DCBA``: both (little-endian).

pymodbus' ``convert_from_registers`` handles only the word order; the byte swaps are done here.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from telemetry.errors import DecodeError
from telemetry.profiles import DATA_TYPES, Point
from telemetry.quality import Quality

_STRUCT = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "float32": ">f", "float64": ">d"}


def _ordered_bytes(registers: Sequence[int], order: str) -> bytes:
    words = list(registers)
    if order in ("CDAB", "DCBA"):
        words.reverse()
    swap = order in ("BADC", "DCBA")
    out = bytearray()
    for w in words:
        hi, lo = (w >> 8) & 0xFF, w & 0xFF
        out += bytes((lo, hi) if swap else (hi, lo))
    return bytes(out)


def decode_registers(registers: Sequence[int], dtype: str, order: str = "ABCD") -> int | float:
    """The raw number held by ``registers`` (16-bit words as read on the wire).

    Raises:
        DecodeError: the register count does not match the type.
    """
    if dtype == "bits":
        raise DecodeError("bits are decoded with decode_bit")
    if len(registers) != DATA_TYPES[dtype]:
        raise DecodeError(f"{dtype} needs {DATA_TYPES[dtype]} register(s), got {len(registers)}")
    value: int | float = struct.unpack(_STRUCT[dtype], _ordered_bytes(registers, order))[0]
    return value


def encode_registers(value: int | float, dtype: str, order: str = "ABCD") -> list[int]:
    """The registers a device would send for the raw ``value`` (used by the simulator and tests)."""
    data = struct.pack(_STRUCT[dtype], value)
    words = [(data[i] << 8) | data[i + 1] for i in range(0, len(data), 2)]
    if order in ("BADC", "DCBA"):
        words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
    if order in ("CDAB", "DCBA"):
        words.reverse()
    return words


def decode_bit(register: int, bit: int) -> int:
    """Bit ``bit`` (0 = least significant) of a register, as 0 or 1."""
    return (register >> bit) & 1


def to_value(point: Point, raw: int | float, unit_raw: int | None = None) -> tuple[float | None, Quality]:
    """Turn a raw number into the canonical value with its quality.

    Sentinels are checked on the raw value before any scaling, so a "no value" code never becomes a
    plausible number. A value outside the valid range is kept and flagged.

    Args:
        point: the profile point.
        raw: the raw number decoded from the registers (or the bit, 0/1).
        unit_raw: the raw value of the point's unit register, when it has one.
    """
    if raw in point.sentinels:
        return None, Quality.INVALID
    if isinstance(raw, float) and not math.isfinite(raw):
        return None, Quality.INVALID
    factor = point.factor
    if point.scale_register is not None:
        if unit_raw is None or unit_raw not in point.scale_map:
            return None, Quality.INVALID
        factor = point.scale_map[unit_raw]
    value = raw * factor
    if point.valid_range is not None and not point.valid_range[0] <= value <= point.valid_range[1]:
        return value, Quality.OUT_OF_RANGE
    return value, Quality.GOOD


@dataclass
class CounterState:
    """Last good value of each monotonic counter of one device, to detect going backwards."""

    last: dict[str, float] = field(default_factory=dict)

    def check(self, point: Point, value: float | None, quality: Quality) -> Quality:
        """Flag a counter that went down: a rollover when it wrapped past ``point.rollover`` to a small
        value (under half the capacity from the last one), else backwards. The value is kept as read."""
        if not point.monotonic or value is None or quality is not Quality.GOOD:
            return quality
        previous = self.last.get(point.name)
        self.last[point.name] = value
        if previous is None or value >= previous:
            return quality
        if point.rollover is not None and (previous - value) > point.rollover / 2:
            return Quality.COUNTER_ROLLOVER
        return Quality.COUNTER_BACKWARDS
