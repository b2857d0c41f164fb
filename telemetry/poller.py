"""Async polling of the devices behind one Modbus TCP endpoint.

One :class:`EndpointPoller` per endpoint (host, port) owns one pymodbus client: devices behind one
gateway are polled in turn on its connection, while endpoints run concurrently, so a dead, slow or
garbage-spewing device only ever delays the devices sharing its gateway. Each block read has a
timeout, retries and, after a failed connect, a doubling reconnect backoff, all explicit settings.

Only the read function codes 01-04 are ever sent: :data:`READ_METHODS` is the whole vocabulary.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from telemetry.decode import CounterState, decode_bit, decode_registers, to_value
from telemetry.health import CollectorStats
from telemetry.link import READ_METHODS, Link, LinkFailure
from telemetry.planning import Block, plan_blocks, stagger_offset
from telemetry.profiles import Point, Profile
from telemetry.quality import Quality
from telemetry.samples import Reading

log = logging.getLogger(__name__)

__all__ = ["READ_METHODS", "DeviceConfig", "EndpointPoller", "PollSettings", "decode_bits_block",
           "decode_register_block"]


@dataclass(frozen=True)
class PollSettings:
    """Timeouts, retries and backoff of the polling, with their defaults."""

    timeout_s: float = 2.0  # [s] per request
    retries: int = 1  # extra attempts of a failed (timed-out or broken) read within the same tick
    connect_timeout_s: float = 3.0  # [s]
    backoff_initial_s: float = 1.0  # [s] wait after a failed connect, doubled after each failure
    backoff_max_s: float = 60.0  # [s] ceiling of the reconnect backoff


@dataclass(frozen=True)
class DeviceConfig:
    """One device to poll: where it answers and which profile describes it."""

    device_id: int
    code: str
    host: str
    port: int
    unit_id: int
    profile: Profile
    timeout_s: float | None = None  # [s] overrides PollSettings.timeout_s for this device
    retries: int | None = None  # overrides PollSettings.retries for this device


@dataclass
class _DeviceState:
    config: DeviceConfig
    blocks: list[Block]
    counters: CounterState = field(default_factory=CounterState)
    unit_raw: dict[str, int] = field(default_factory=dict)  # last raw value of each unit register

    @property
    def unit_registers(self) -> set[str]:
        return {p.scale_register for p in self.config.profile.points if p.scale_register}


class EndpointPoller:
    """Polls every block of every device behind one endpoint, on its schedule, until stopped."""

    def __init__(self, host: str, port: int, devices: Sequence[DeviceConfig], settings: PollSettings,
                 emit: Callable[[Reading], None], stats: CollectorStats) -> None:
        self.host, self.port = host, port
        self.settings = settings
        self.emit = emit
        self.stats = stats
        self.devices = [_DeviceState(d, plan_blocks(d.profile)) for d in devices]
        timeouts = [d.timeout_s or settings.timeout_s for d in devices]
        self.link = Link(host, port, settings.connect_timeout_s, max(timeouts), stats.count_frame)
        self._stopped = False
        self._next_connect = 0.0  # monotonic time before which no connect is attempted
        self._backoff = settings.backoff_initial_s
        self._connect_failure: LinkFailure | None = None  # why the last connect failed (kept through backoff)
        for d in devices:
            stats.health(d.device_id, d.code)

    async def run(self) -> None:
        """Poll until cancelled or stopped; closes the connection on the way out.

        A cancellation ends the task promptly wherever it lands: every library call is checked for a
        cancellation it may have swallowed (see :mod:`telemetry.link`).
        """
        loop = asyncio.get_running_loop()
        heap: list[tuple[float, int, int, int]] = []
        start = loop.time()
        seq = 0
        for di, dev in enumerate(self.devices):
            for bi, block in enumerate(dev.blocks):
                offset = stagger_offset(f"{dev.config.code}/{block.poll}", block.interval_s)
                heap.append((start + offset, seq, di, bi))
                seq += 1
        heapq.heapify(heap)
        try:
            while heap:
                self._raise_if_cancelled()
                due, seq, di, bi = heap[0]
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                heapq.heappop(heap)
                dev = self.devices[di]
                block = dev.blocks[bi]
                try:
                    await self.poll_block(dev, block)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # top of a long-running loop: count, log, carry on
                    log.exception("device %s: unexpected error polling block %s", dev.config.code, block.start)
                    self._failed(dev, block, LinkFailure("internal", f"erreur interne : {exc!r}"))
                nxt = due + block.interval_s
                now = loop.time()
                if nxt <= now:  # late (slow gateway): skip the missed ticks, keep the phase
                    nxt += ((now - nxt) // block.interval_s + 1) * block.interval_s
                heapq.heappush(heap, (nxt, seq, di, bi))
                if dev.config.profile.inter_request_delay_s:
                    await asyncio.sleep(dev.config.profile.inter_request_delay_s)
        finally:
            self.link.close()

    def stop(self) -> None:
        """Make :meth:`run` end at its next step (a cancellation does the same)."""
        self._stopped = True
        self.link.close()

    def _raise_if_cancelled(self) -> None:
        """End the task if it was stopped or cancelled, even when a library call swallowed the
        cancellation (the task still counts the request: ``Task.cancelling()``)."""
        task = asyncio.current_task()
        if self._stopped or (task is not None and task.cancelling()):
            raise asyncio.CancelledError

    async def poll_block(self, dev: _DeviceState, block: Block) -> None:
        """Read one block and emit its reading, good or not.

        A read that fails on the connection (timeout, reset, an answer to another request, a stalled
        frame) is retried on a fresh connection within the same tick, ``retries`` times; a busy device
        is asked again on the same connection; other Modbus exception answers are final.
        """
        cfg = dev.config
        timeout = cfg.timeout_s or self.settings.timeout_s
        retries = self.settings.retries if cfg.retries is None else cfg.retries
        failure: LinkFailure | None = None
        for attempt in range(retries + 1):
            if not self.link.connected:
                connect_failure = await self._connect()
                self._raise_if_cancelled()
                if connect_failure is not None:
                    failure = connect_failure
                    break
            started = time.perf_counter()
            try:
                response = await self.link.read(block.function, block.start, block.count, cfg.unit_id, timeout)
            except LinkFailure as exc:
                self._raise_if_cancelled()
                failure = exc
                if exc.kind == "exception" and not exc.transient:
                    break
                continue
            self._raise_if_cancelled()
            if attempt:
                self.stats.retried_ok += 1
            self._succeeded(dev, block, response, time.perf_counter() - started)
            return
        self._failed(dev, block, failure or LinkFailure("internal", "aucune tentative"))

    async def _connect(self) -> LinkFailure | None:
        """Open a fresh connection unless in backoff; None when connected, else why not."""
        if time.monotonic() < self._next_connect and self._connect_failure is not None:
            return self._connect_failure
        try:
            await self.link.connect()
        except LinkFailure as exc:
            self._connect_failure = exc
            self._next_connect = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, self.settings.backoff_max_s)
            return exc
        self._connect_failure = None
        self._backoff = self.settings.backoff_initial_s
        return None

    def _succeeded(self, dev: _DeviceState, block: Block, response: object, latency: float) -> None:
        now = datetime.now(UTC)
        received = time.monotonic_ns()
        if block.function in (1, 2):
            values = decode_bits_block(block, list(getattr(response, "bits", [])))
        else:
            values = decode_register_block(block, list(getattr(response, "registers", [])), dev.unit_raw,
                                           dev.counters, dev.unit_registers)
        self.stats.health(dev.config.device_id, dev.config.code).record_success(now, latency)
        self._emit(Reading(now, dev.config.device_id, values, received))

    def _failed(self, dev: _DeviceState, block: Block, failure: LinkFailure) -> None:
        now = datetime.now(UTC)
        self.stats.health(dev.config.device_id, dev.config.code).record_failure(now, failure.kind, failure.text)
        values: dict[str, tuple[float | None, Quality]] = {p.name: (None, Quality.COMM_ERROR) for p in block.points}
        self._emit(Reading(now, dev.config.device_id, values, time.monotonic_ns()))

    def _emit(self, reading: Reading) -> None:
        self.stats.readings_emitted += 1
        self.stats.samples_emitted += reading.sample_count
        self.emit(reading)


def decode_bits_block(block: Block, bits: list[bool]) -> dict[str, tuple[float | None, Quality]]:
    """Values of a coils / discrete-inputs block."""
    out: dict[str, tuple[float | None, Quality]] = {}
    for p in block.points:
        offset = p.address - block.start
        out[p.name] = (float(bits[offset]), Quality.GOOD) if offset < len(bits) else (None, Quality.INVALID)
    return out


def decode_register_block(block: Block, registers: list[int], unit_raw: dict[str, int] | None = None,
                          counters: CounterState | None = None, unit_registers: set[str] | None = None,
                          ) -> dict[str, tuple[float | None, Quality]]:
    """Values of a holding/input-register block.

    Args:
        unit_raw: last raw values of the device's unit registers, read and updated here.
        counters: the device's counter state (None: counters not checked).
        unit_registers: names of the device's points that are unit registers.
    """
    out: dict[str, tuple[float | None, Quality]] = {}
    unit_raw = {} if unit_raw is None else unit_raw
    scaled_by = (unit_registers or set()) | {p.scale_register for p in block.points if p.scale_register}
    ordered: list[Point] = sorted(block.points, key=lambda p: p.name not in scaled_by)
    for p in ordered:
        offset = p.address - block.start
        regs = registers[offset:offset + p.width]
        if len(regs) != p.width:
            out[p.name] = (None, Quality.INVALID)  # short or garbled answer
            continue
        raw = decode_bit(regs[0], p.bit or 0) if p.type == "bits" else decode_registers(regs, p.type, p.order)
        if p.name in scaled_by:
            unit_raw[p.name] = int(raw)
        value, quality = to_value(p, raw, unit_raw.get(p.scale_register) if p.scale_register else None)
        if counters is not None:
            quality = counters.check(p, value, quality)
        out[p.name] = (value, quality)
    return out
