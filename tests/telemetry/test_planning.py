"""Block planning: neighbours merged across small gaps, limits respected, groups apart."""

from __future__ import annotations

from telemetry.planning import plan_blocks, stagger_offset
from telemetry.profiles import parse_profile


def profile(points: list[dict[str, object]], **extra: object) -> object:
    return parse_profile({"name": "p", "poll_groups": {"fast": 10, "slow": 60}, "points": points, **extra}, "p.yaml")


def pt(name: str, address: int, dtype: str = "uint16", poll: str = "fast", function: int = 3) -> dict[str, object]:
    return {"name": name, "function": function, "address": address, "type": dtype, "poll": poll}


def test_merges_across_small_gaps_only() -> None:
    prof = profile([pt("a", 0), pt("b", 5, "float32"), pt("c", 17), pt("d", 40)], max_gap=10)
    blocks = plan_blocks(prof)  # type: ignore[arg-type]
    assert [(b.start, b.count, [p.name for p in b.points]) for b in blocks] == [
        (0, 18, ["a", "b", "c"]), (40, 1, ["d"])]


def test_respects_the_block_limit() -> None:
    prof = profile([pt(f"p{i}", i * 10) for i in range(30)], max_block_registers=100, max_gap=10)
    blocks = plan_blocks(prof)  # type: ignore[arg-type]
    assert all(b.count <= 100 for b in blocks)
    assert sum(len(b.points) for b in blocks) == 30
    assert len(blocks) == 3


def test_poll_groups_and_function_codes_are_separate_requests() -> None:
    prof = profile([pt("a", 0), pt("b", 1, poll="slow"), pt("c", 2, function=4), pt("d", 0, "bits", function=1)])
    blocks = plan_blocks(prof)  # type: ignore[arg-type]
    assert sorted((b.function, b.poll, b.interval_s) for b in blocks) == [
        (1, "fast", 10.0), (3, "fast", 10.0), (3, "slow", 60.0), (4, "fast", 10.0)]


def test_unit_register_block_is_read_first() -> None:
    prof = profile([
        {"name": "energy", "function": 4, "address": 0, "type": "uint32", "unit": "kWh",
         "scale": {"register": "unit", "factors": {0: 1}}, "poll": "slow"},
        {"name": "unit", "function": 4, "address": 100, "type": "uint16", "poll": "slow"},
    ])
    assert [p.name for p in plan_blocks(prof)[0].points] == ["unit"]  # type: ignore[arg-type]


def test_stagger_is_stable_and_spread() -> None:
    offsets = [stagger_offset(f"dev-{i}", 60.0) for i in range(1000)]
    assert offsets == [stagger_offset(f"dev-{i}", 60.0) for i in range(1000)]
    assert all(0 <= o < 60 for o in offsets)
    assert sum(o < 30 for o in offsets) in range(400, 600)
