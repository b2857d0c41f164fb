"""Decoding of every data type and byte order, scales, sentinels, ranges and counters."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemetry.decode import CounterState, decode_bit, decode_registers, encode_registers, to_value
from telemetry.errors import DecodeError
from telemetry.profiles import Point
from telemetry.quality import Quality

ORDERS = ["ABCD", "CDAB", "BADC", "DCBA"]


@pytest.mark.parametrize(("order", "registers"), [
    ("ABCD", [0x3F80, 0x0000]), ("CDAB", [0x0000, 0x3F80]), ("BADC", [0x803F, 0x0000]), ("DCBA", [0x0000, 0x803F]),
])
def test_float32_byte_orders_known_vectors(order: str, registers: list[int]) -> None:
    assert decode_registers(registers, "float32", order) == 1.0
    assert encode_registers(1.0, "float32", order) == registers


@pytest.mark.parametrize(("order", "registers"), [
    ("ABCD", [0x1234, 0x5678]), ("CDAB", [0x5678, 0x1234]), ("BADC", [0x3412, 0x7856]), ("DCBA", [0x7856, 0x3412]),
])
def test_uint32_byte_orders_known_vectors(order: str, registers: list[int]) -> None:
    assert decode_registers(registers, "uint32", order) == 0x12345678


def test_16_and_64_bit_types() -> None:
    assert decode_registers([0xFFFF], "int16") == -1
    assert decode_registers([0xFFFF], "uint16") == 65535
    assert decode_registers([0x0100], "int16", "BADC") == 1
    assert decode_registers([0x3FF0, 0, 0, 0], "float64") == 1.0
    assert decode_registers([0, 0, 0, 0x3FF0], "float64", "CDAB") == 1.0
    assert decode_registers([0, 0, 0, 0xF03F], "float64", "DCBA") == 1.0
    assert decode_bit(0b1000, 3) == 1
    assert decode_bit(0b1000, 2) == 0
    with pytest.raises(DecodeError, match="int32 needs 2 register"):
        decode_registers([1], "int32")


@given(st.integers(-(2**31), 2**31 - 1), st.sampled_from(ORDERS))
def test_int32_round_trip(value: int, order: str) -> None:
    assert decode_registers(encode_registers(value, "int32", order), "int32", order) == value


@given(st.floats(allow_nan=False, width=32), st.sampled_from(ORDERS))
def test_float32_round_trip(value: float, order: str) -> None:
    assert decode_registers(encode_registers(value, "float32", order), "float32", order) == value


@given(st.floats(allow_nan=False), st.sampled_from(ORDERS))
def test_float64_round_trip(value: float, order: str) -> None:
    assert decode_registers(encode_registers(value, "float64", order), "float64", order) == value


def test_sentinel_is_checked_before_scaling() -> None:
    p = Point("t_outdoor", 3, 0, "int16", factor=0.01, sentinels=frozenset({32767}), valid_range=(-50, 60))
    assert to_value(p, 32767) == (None, Quality.INVALID)
    assert to_value(p, 1234) == pytest.approx((12.34, Quality.GOOD))
    assert to_value(p, 9000) == pytest.approx((90.0, Quality.OUT_OF_RANGE))
    assert to_value(p, math.nan) == (None, Quality.INVALID)


def test_unit_register_scale() -> None:
    p = Point("energy", 4, 0, "uint32", scale_register="energy_unit", scale_map={0: 1.0, 1: 1000.0})
    assert to_value(p, 42, 1) == (42000.0, Quality.GOOD)
    assert to_value(p, 42, 7) == (None, Quality.INVALID)  # unknown unit code
    assert to_value(p, 42, None) == (None, Quality.INVALID)  # unit register not read yet


def test_counter_rollover_and_backwards() -> None:
    p = Point("energy", 4, 0, "uint32", monotonic=True, rollover=100_000_000.0)
    state = CounterState()
    assert state.check(p, 99_999_990.0, Quality.GOOD) is Quality.GOOD
    assert state.check(p, 99_999_995.0, Quality.GOOD) is Quality.GOOD
    assert state.check(p, 12.0, Quality.GOOD) is Quality.COUNTER_ROLLOVER
    assert state.check(p, 20.0, Quality.GOOD) is Quality.GOOD
    assert state.check(p, 15.0, Quality.GOOD) is Quality.COUNTER_BACKWARDS
    assert state.check(p, 16.0, Quality.GOOD) is Quality.GOOD
