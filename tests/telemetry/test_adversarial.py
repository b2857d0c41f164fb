"""Misbehaving Modbus TCP devices over real sockets: each fault gets its quality flag and its real
cause in the device's health; retries reach the wire on fresh connections; the request counter counts
frames that went out; pollers end promptly when cancelled at any point, on a saturated CPU."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from telemetry.health import CollectorStats
from telemetry.poller import DeviceConfig, EndpointPoller, PollSettings
from telemetry.profiles import Profile
from telemetry.quality import Quality
from telemetry.samples import Reading
from tests.support.sim import TEST_POLL, SimulatorThread, collect, device_configs, fast_profiles, running_fleet
from tests.support.tcp_proxy import TcpProxy


@pytest.fixture(scope="module")
def profiles() -> dict[str, Profile]:
    return fast_profiles(0.25)


@pytest.fixture(scope="module")
def fleet(profiles: dict[str, Profile]) -> Iterator[SimulatorThread]:
    with running_fleet(12, profiles, base_address="127.5.0.0") as sim:
        yield sim


@pytest.fixture
def busy_cpus() -> Iterator[None]:
    """Both cores kept busy by two other processes while the test runs."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        yield
    finally:
        for p in burners:
            p.kill()
            p.wait(10)


def _meter(fleet: SimulatorThread, profiles: dict[str, Profile], index: int) -> DeviceConfig:
    """The heat meter of substation ``index`` (float32 map for even indexes)."""
    return device_configs(fleet, profiles, [fleet.simulator.specs[index].devices[0].code])[0]


def _qualities(readings: list[Reading]) -> set[Quality]:
    return {q for r in readings for _, q in r.values.values()}


def _good_share(readings: list[Reading]) -> float:
    good = sum(all(q is Quality.GOOD for _, q in r.values.values()) for r in readings)
    return good / len(readings) if readings else 0.0


FAULTS: list[tuple[str, dict[str, object], set[Quality], str | None]] = [
    # (case, fault settings, qualities of every reading, health's kind of failure)
    ("no answer (half-open)", {"no_answer": True}, {Quality.COMM_ERROR}, "timeout"),
    ("connection reset", {"reset": True}, {Quality.COMM_ERROR}, "reset"),
    ("wrong transaction id", {"wrong_transaction_every": 1}, {Quality.COMM_ERROR}, "wrong_transaction_id"),
    ("wrong unit id", {"wrong_unit_every": 1}, {Quality.COMM_ERROR}, "wrong_unit_id"),
    ("frame stalled midway", {"stall_every": 1}, {Quality.COMM_ERROR}, "stalled_frame"),
    ("busy", {"exception_code": 6}, {Quality.COMM_ERROR}, "exception"),
    ("illegal address", {"exception_code": 2}, {Quality.COMM_ERROR}, "exception"),
    ("sentinels", {"sentinel": True}, {Quality.INVALID}, None),
]


@pytest.mark.parametrize(("case", "fault", "expected", "kind"), FAULTS, ids=[f[0] for f in FAULTS])
def test_each_adversarial_device_gets_its_flag_and_its_cause(
        fleet: SimulatorThread, profiles: dict[str, Profile], case: str, fault: dict[str, object],
        expected: set[Quality], kind: str | None) -> None:
    config = _meter(fleet, profiles, 0)
    device = fleet.simulator.device(config.code)
    for key, value in fault.items():
        setattr(device.faults, key, value)
    try:
        readings, stats = collect([config], 1.5, PollSettings(timeout_s=0.4, retries=1, connect_timeout_s=1.0))
    finally:
        device.faults.clear()
    assert readings, case
    if kind is None:  # the device answers; its values say what is wrong
        qualities = {q for r in readings for name, (_, q) in r.values.items()
                     if name not in ("meter_error_code", "energy_unit")}
        assert qualities == expected, case
        assert stats.devices[config.device_id].consecutive_failures == 0
        return
    assert _qualities(readings) == expected, case
    assert all(v is None for r in readings for v, _ in r.values.values())
    health = stats.devices[config.device_id]
    assert health.successes == 0
    assert health.last_error_kind == kind, (case, health.last_error)
    assert "Not connected" not in (health.last_error or "")
    if fault.get("exception_code") == 6:
        assert "appareil occupé" in (health.last_error or "")
    if fault.get("exception_code") == 2:
        assert "adresse de registre invalide" in (health.last_error or "")


def test_a_refused_port_is_reported_as_refused(fleet: SimulatorThread, profiles: dict[str, Profile]) -> None:
    config = _meter(fleet, profiles, 1)
    with TcpProxy(config.host, config.port).start() as proxy:
        port = proxy.port
    dead = DeviceConfig(config.device_id, config.code, "127.0.0.1", port, config.unit_id, config.profile)
    readings, stats = collect([dead], 1.0)
    assert readings and _qualities(readings) == {Quality.COMM_ERROR}
    assert stats.devices[dead.device_id].last_error_kind == "refused"
    assert sum(stats.requests_sent.values()) == 0  # nothing went out: nothing counted


def test_a_counter_going_backwards_is_flagged(fleet: SimulatorThread, profiles: dict[str, Profile]) -> None:
    config = _meter(fleet, profiles, 2)
    substation = fleet.simulator.servers[fleet.simulator.specs[2].code].substation

    def step_back() -> None:  # the register goes back (a swapped or faulty meter)
        substation.energy_kwh -= 5000.0

    timer = threading.Timer(0.8, step_back)
    timer.start()
    readings, stats = collect([config], 1.6)
    timer.join()
    energy = [r.values["energy"][1] for r in readings if "energy" in r.values]
    assert Quality.COUNTER_BACKWARDS in energy, energy
    assert energy[0] is Quality.GOOD
    assert stats.devices[config.device_id].consecutive_failures == 0  # it answers: no communication fault


def test_one_retry_saves_the_polls_of_resetting_and_desynchronised_devices(
        fleet: SimulatorThread, profiles: dict[str, Profile]) -> None:
    resetting, desync = _meter(fleet, profiles, 3), _meter(fleet, profiles, 4)
    r_dev, d_dev = fleet.simulator.device(resetting.code), fleet.simulator.device(desync.code)
    r_dev.faults.reset_every = 2
    d_dev.faults.wrong_transaction_every = 2
    try:
        no_retry, stats0 = collect([resetting, desync], 4.0, TEST_POLL)
        r_dev.requests = d_dev.requests = 0
        with_retry, stats1 = collect([resetting, desync], 8.0,
                                     PollSettings(timeout_s=0.4, retries=1, connect_timeout_s=1.0))
        sent_to_devices = r_dev.requests + d_dev.requests
    finally:
        r_dev.faults.clear()
        d_dev.faults.clear()
    for config in (resetting, desync):
        mine = [r for r in with_retry if r.device_id == config.device_id]
        assert len(mine) >= 30
        assert _good_share(mine) >= 0.99, (config.code, _good_share(mine))
        without = [r for r in no_retry if r.device_id == config.device_id]
        assert _good_share(without) < 0.8  # the faults are real: without a retry, polls are lost
    assert stats0.devices[desync.device_id].last_error_kind == "wrong_transaction_id"
    assert stats0.devices[resetting.device_id].last_error_kind == "reset"
    assert stats1.retried_ok >= 20
    assert sum(stats1.requests_sent.values()) == sent_to_devices  # counted frames = frames the devices got


def test_a_black_holed_device_is_reconnected_once_the_path_returns(
        fleet: SimulatorThread, profiles: dict[str, Profile]) -> None:
    config = _meter(fleet, profiles, 5)
    with TcpProxy(config.host, config.port).start() as proxy:
        via = DeviceConfig(config.device_id, config.code, "127.0.0.1", proxy.port, config.unit_id, config.profile)
        readings: list[Reading] = []
        stats = CollectorStats()

        async def main() -> None:
            poller = EndpointPoller(via.host, via.port, [via], TEST_POLL, readings.append, stats)
            task = asyncio.create_task(poller.run())
            await asyncio.sleep(1.0)
            proxy.black_hole()
            await asyncio.sleep(1.5)
            marks["hole"] = len(readings)
            proxy.resume()
            await asyncio.sleep(2.0)
            task.cancel()
            await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 5)

        marks: dict[str, int] = {}
        asyncio.run(main())
    before, during_and_after = readings[:marks["hole"]], readings[marks["hole"]:]
    assert any(_good_share([r]) == 1.0 for r in before)
    assert any(r.values and all(q is Quality.COMM_ERROR for _, q in r.values.values()) for r in before)
    assert _good_share(during_and_after[-4:]) == 1.0  # answering again on a fresh connection


@pytest.mark.usefixtures("busy_cpus")
def test_pollers_end_promptly_when_cancelled_at_any_point(fleet: SimulatorThread, profiles: dict[str, Profile]
                                                          ) -> None:
    """Pollers cancelled at random instants (connecting, mid-request, in backoff, between polls) while
    both cores are busy: every task ends within 2 s of its cancellation, round after round."""
    faults: list[dict[str, object]] = [{"no_answer": True}, {"delay_s": 0.3}, {"reset": True},
                                       {"stall_every": 2}, {"wrong_transaction_every": 3}, {}]
    configs = device_configs(fleet, profiles)
    for i, spec in enumerate(fleet.simulator.specs[6:12]):
        for key, value in faults[i].items():
            setattr(fleet.simulator.servers[spec.code].devices[spec.devices[0].unit_id].faults, key, value)
    rng = random.Random(20261201)
    settings = PollSettings(timeout_s=0.3, retries=1, connect_timeout_s=0.5, backoff_initial_s=0.1,
                            backoff_max_s=0.2)

    async def round_(seconds: float) -> int:
        stats = CollectorStats()
        groups: dict[tuple[str, int], list[DeviceConfig]] = {}
        for d in configs:
            groups.setdefault((d.host, d.port), []).append(d)
        pollers = [EndpointPoller(h, p, devs, settings, lambda r: None, stats) for (h, p), devs in groups.items()]
        tasks = [asyncio.create_task(p.run()) for p in pollers]
        await asyncio.sleep(seconds)
        for t in tasks:
            t.cancel()
        _, pending = await asyncio.wait(tasks, timeout=2)
        return len(pending)

    try:
        stuck = [asyncio.run(round_(rng.uniform(0.0, 0.6))) for _ in range(25)]
    finally:
        for spec in fleet.simulator.specs[6:12]:
            for d in fleet.simulator.servers[spec.code].devices.values():
                d.faults.clear()
    assert stuck == [0] * 25
