"""Request planning: merge a profile's points into as few block reads as the wire allows.

Points of the same function code and poll group are sorted by address and merged while the block
stays within the profile's maximum (≤ 125 registers, ≤ 2000 bits) and the hole between two points is
at most ``max_gap`` registers (read and discarded: one longer read is cheaper than two round trips).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from telemetry.profiles import MAX_BITS, Point, Profile


@dataclass(frozen=True)
class Block:
    """One read request: function code, 0-based start address, count, the points it carries."""

    function: int
    start: int
    count: int
    points: tuple[Point, ...]
    poll: str
    interval_s: float  # [s]

    @property
    def end(self) -> int:
        """First address after the block."""
        return self.start + self.count


def plan_blocks(profile: Profile) -> list[Block]:
    """The block reads covering every point of ``profile``, grouped by poll group and function."""
    groups: dict[tuple[str, int], list[Point]] = {}
    for point in profile.points:
        groups.setdefault((point.poll, point.function), []).append(point)
    blocks: list[Block] = []
    for (poll, function), points in sorted(groups.items()):
        limit = MAX_BITS if function in (1, 2) else profile.max_block_registers
        blocks += _merge(points, function, poll, profile.poll_intervals[poll], limit, profile.max_gap)
    # Blocks holding a unit register go first, so the values it scales find it already read.
    unit_registers = {p.scale_register for p in profile.points if p.scale_register}
    return sorted(blocks, key=lambda b: not any(p.name in unit_registers for p in b.points))


def _merge(points: Sequence[Point], function: int, poll: str, interval: float, limit: int,
           max_gap: int) -> list[Block]:
    ordered = sorted(points, key=lambda p: (p.address, p.name))
    blocks: list[Block] = []
    current: list[Point] = []
    start = end = 0
    for p in ordered:
        p_end = p.address + p.width
        if current and p.address - end <= max_gap and max(end, p_end) - start <= limit:
            current.append(p)
            end = max(end, p_end)
            continue
        if current:
            blocks.append(Block(function, start, end - start, tuple(current), poll, interval))
        current, start, end = [p], p.address, p_end
    if current:
        blocks.append(Block(function, start, end - start, tuple(current), poll, interval))
    return blocks


def stagger_offset(key: str, interval_s: float) -> float:
    """A stable start offset in [0, interval) for a device, so a fleet does not poll all at once [s]."""
    return (zlib.crc32(key.encode()) % 100_000) / 100_000 * interval_s
