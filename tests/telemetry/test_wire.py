"""Simulator and poller over loopback: wire addresses, every fault flagged right, isolation, read-only."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from pymodbus.client import AsyncModbusTcpClient

from telemetry.planning import plan_blocks
from telemetry.poller import READ_METHODS, DeviceConfig, PollSettings, decode_register_block
from telemetry.profiles import Profile
from telemetry.quality import Quality
from telemetry.samples import Reading
from telemetry.simulator.fleet import SimulatedSubstationSpec
from telemetry.simulator.physics import Substation
from tests.support.sim import SimulatorThread, collect, device_configs, fast_profiles, running_fleet


@pytest.fixture(scope="module")
def profiles() -> dict[str, Profile]:
    return fast_profiles(0.5)


@pytest.fixture(scope="module")
def fleet(profiles: dict[str, Profile]) -> Iterator[SimulatorThread]:
    with running_fleet(12, profiles, base_address="127.2.0.0") as sim:
        yield sim


def configs(sim: SimulatorThread, profiles: dict[str, Profile], codes: list[str] | None = None) -> list[DeviceConfig]:
    return device_configs(sim, profiles, codes)


def test_wire_addresses_match_the_profiles(fleet: SimulatorThread, profiles: dict[str, Profile]) -> None:
    async def main() -> None:
        for spec in fleet.simulator.specs[:4]:  # the four profile combinations
            substation = fleet.simulator.servers[spec.code].substation
            client = AsyncModbusTcpClient(spec.host, port=spec.port, timeout=2)
            await client.connect()
            try:
                await check(spec, substation, client)
            finally:
                client.close()

    async def check(spec: SimulatedSubstationSpec, substation: Substation, client: AsyncModbusTcpClient) -> None:
        for d in spec.devices:
            profile = profiles[d.profile]
            unit_raw: dict[str, int] = {}
            for block in plan_blocks(profile):
                if block.function in (1, 2):
                    continue
                method = getattr(client, READ_METHODS[block.function])
                response = await method(block.start, count=block.count, device_id=d.unit_id)
                assert not response.isError(), (d.profile, block)
                values = decode_register_block(block, response.registers, unit_raw,
                                               unit_registers={"energy_unit"})
                truth = substation.values(substation.last_time) if substation.last_time else {}
                for name, (value, quality) in values.items():
                    if name in ("energy", "volume"):
                        assert value == pytest.approx(truth[name], rel=1e-4, abs=1.0), (d.profile, name)
                    elif name in ("t_supply_primary", "t_return_primary", "t_outdoor", "power", "flow",
                                  "t_supply_secondary", "t_return_secondary", "valve_position"):
                        # within 1 %, or the register's resolution (a uint16 of 1 % steps rounds by 0.5)
                        resolution = profile.point(name).factor
                        tolerance = max(0.2, 0.01 * abs(truth[name]), 0.51 * resolution)
                        assert value == pytest.approx(truth[name], abs=tolerance), (d.profile, name)
                    assert quality in (Quality.GOOD, Quality.OUT_OF_RANGE), (d.profile, name)
        if spec.devices[1].profile == "samson-trovis-5576":  # 1-based map: register 1 is wire address 0
            raw = await client.read_holding_registers(0, count=1, device_id=2)
            assert raw.registers[0] == round(substation.values(substation.last_time)["t_outdoor"] * 10) & 0xFFFF  # type: ignore[arg-type]

    asyncio.run(main())


def test_collects_every_block_with_good_quality(fleet: SimulatorThread, profiles: dict[str, Profile]) -> None:
    devices = configs(fleet, profiles)[:8]
    readings, stats = collect(devices, 2.2)
    assert {r.device_id for r in readings} == {d.device_id for d in devices}
    for r in readings:
        assert all(q in (Quality.GOOD,) for _, q in r.values.values()), r
    assert all(stats.devices[d.device_id].consecutive_failures == 0 for d in devices)
    assert set(stats.requests_sent) <= {1, 2, 3, 4}


def _only(readings: list[Reading], device_id: int) -> list[Reading]:
    return [r for r in readings if r.device_id == device_id]


@pytest.mark.parametrize(("fault", "expected"), [
    ({"no_answer": True}, {Quality.COMM_ERROR}),
    ({"delay_s": 1.0}, {Quality.COMM_ERROR}),
    ({"exception_code": 4}, {Quality.COMM_ERROR}),
    ({"reset": True}, {Quality.COMM_ERROR}),
    ({"sentinel": True}, {Quality.INVALID}),
])
def test_each_fault_is_flagged(fleet: SimulatorThread, profiles: dict[str, Profile], fault: dict[str, object],
                               expected: set[Quality]) -> None:
    spec = fleet.simulator.specs[4]  # float32 meter: a sentinel fault reads NaN everywhere
    meter_code = spec.devices[0].code
    device = fleet.simulator.device(meter_code)
    for key, value in fault.items():
        setattr(device.faults, key, value)
    try:
        devices = configs(fleet, profiles, [meter_code])
        readings, stats = collect(devices, 1.6)
    finally:
        device.faults.clear()
    qualities = {q for r in readings for name, (_, q) in r.values.items()
                 if not (fault.get("sentinel") and name in ("meter_error_code", "energy_unit"))}
    assert readings
    assert qualities == expected
    if expected == {Quality.COMM_ERROR}:
        assert all(v is None for r in readings for v, _ in r.values.values())
        assert stats.devices[devices[0].device_id].successes == 0


def test_garbage_outside_the_valid_range_is_flagged(fleet: SimulatorThread, profiles: dict[str, Profile]) -> None:
    """Random words are flagged whenever they are not a plausible value (a single sample cannot tell
    a plausible random number from a real one); no implausible number passes as good."""
    spec = fleet.simulator.specs[6]  # float32 meter
    profile = profiles[spec.devices[0].profile]
    device = fleet.simulator.device(spec.devices[0].code)
    device.faults.garbage = True
    try:
        readings, _ = collect(configs(fleet, profiles, [spec.devices[0].code]), 1.6)
    finally:
        device.faults.clear()
    values = [(name, v, q) for r in readings for name, (v, q) in r.values.items() if name != "meter_error_code"]
    assert values
    for name, v, q in values:
        lo, hi = profile.point(name).valid_range or (float("-inf"), float("inf"))
        assert q is not Quality.GOOD or (v is not None and lo <= v <= hi)
    assert sum(q is not Quality.GOOD for _, _, q in values) >= len(values) / 2


def test_frozen_values_and_counter_rollover(fleet: SimulatorThread, profiles: dict[str, Profile]) -> None:
    spec = fleet.simulator.specs[7]  # int32 meter
    substation = fleet.simulator.servers[spec.code].substation
    substation.energy_kwh = substation.energy_capacity_kwh - 0.5  # wraps within the next second
    substation.building = type(substation.building)(design_power_kw=3000.0)
    readings, _ = collect(configs(fleet, profiles, [spec.devices[0].code]), 2.6)
    energy = [r.values["energy"] for r in readings if "energy" in r.values]
    assert any(q is Quality.COUNTER_ROLLOVER for _, q in energy), energy
    substation.frozen = True
    try:
        readings, _ = collect(configs(fleet, profiles, [spec.devices[0].code]), 1.6)
    finally:
        substation.frozen = False
    powers = {r.values["power"][0] for r in readings if "power" in r.values}
    assert len(powers) == 1  # a frozen sensor repeats itself; detecting it is the operations' rule


def test_dead_device_does_not_delay_the_others(fleet: SimulatorThread, profiles: dict[str, Profile]) -> None:
    dead = fleet.simulator.specs[8]
    for d in dead.devices:
        fleet.simulator.device(d.code).faults.no_answer = True
    try:
        devices = configs(fleet, profiles)
        started = time.monotonic()
        readings, _ = collect(devices, 3.1, PollSettings(timeout_s=1.5, retries=2))
        elapsed = time.monotonic() - started
    finally:
        for d in dead.devices:
            fleet.simulator.device(d.code).faults.clear()
    per_device = Counter(r.device_id for r in readings if all(q is Quality.GOOD for _, q in r.values.values()))
    dead_ids = {c.device_id for c in devices if c.code.startswith(dead.code)}
    for c in devices:
        if c.device_id in dead_ids:
            assert per_device[c.device_id] == 0
        else:  # every block every 0.5 s for 3 s: at least 5 polls of each block
            assert per_device[c.device_id] >= 5 * len(plan_blocks(c.profile)), c.code
    assert elapsed < 5


def test_only_read_function_codes_reach_the_devices(fleet: SimulatorThread, profiles: dict[str, Profile]) -> None:
    collect(configs(fleet, profiles), 1.2)
    received = fleet.simulator.received
    assert received  # the simulator saw requests...
    assert set(received) <= {1, 2, 3, 4}, received  # ...and only reads
    assert set(READ_METHODS) == {1, 2, 3, 4}
