"""The collector: pollers for every endpoint, a forwarder thread, health and metrics.

Data path: poller → in-memory queue → (every ``flush_interval_s``) a batch appended to the durable
buffer → forwarded to the database oldest first, deleted once committed. On SIGTERM (:meth:`stop`)
the pollers are cancelled, what is queued is appended to the buffer and the buffer is forwarded
until empty or ``shutdown_timeout_s``; anything left stays in the file for the next start.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg_pool import ConnectionPool

from telemetry.buffer import StoreAndForwardBuffer
from telemetry.health import CollectorStats, prometheus_text
from telemetry.poller import DeviceConfig, EndpointPoller, PollSettings
from telemetry.samples import Reading
from telemetry.writer import write_health, write_readings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ForwardSettings:
    """How readings travel to the database."""

    flush_interval_s: float = 0.2  # [s] queue → durable buffer
    max_batch_readings: int = 5000
    retry_initial_s: float = 0.5  # [s] wait after a failed database write, doubled...
    retry_max_s: float = 10.0  # [s] ...up to this
    health_every_s: float = 15.0  # [s] device health written to the database
    shutdown_timeout_s: float = 30.0  # [s] forwarding allowed at shutdown


@dataclass
class LatencyRecorder:
    """Response-to-commit latencies [s] of this process's readings (a bounded reservoir)."""

    limit: int = 500_000
    values: list[float] = field(default_factory=list)

    def add(self, seconds: float) -> None:
        if len(self.values) < self.limit:
            self.values.append(seconds)


class Forwarder(threading.Thread):
    """Moves readings from the queue to the buffer and from the buffer to the database."""

    def __init__(self, pool: ConnectionPool, buffer: StoreAndForwardBuffer, stats: CollectorStats,
                 settings: ForwardSettings) -> None:
        super().__init__(name="forwarder", daemon=True)
        self.pool, self.buffer, self.stats, self.settings = pool, buffer, stats, settings
        self.queue: queue.SimpleQueue[Reading] = queue.SimpleQueue()
        self.latency = LatencyRecorder()
        self._stopping = threading.Event()
        self._done = threading.Event()
        self._retry_at = 0.0
        self._retry_delay = settings.retry_initial_s
        self._started_ns = time.monotonic_ns()
        self._last_health = time.monotonic()

    def put(self, reading: Reading) -> None:
        self.queue.put(reading)

    def run(self) -> None:
        deadline: float | None = None
        while True:
            self._drain_to_buffer()
            self._forward()
            if time.monotonic() - self._last_health >= self.settings.health_every_s:
                self._write_health()
            if self._stopping.is_set():
                deadline = deadline or time.monotonic() + self.settings.shutdown_timeout_s
                if (self.queue.empty() and self.buffer.pending_batches == 0) or time.monotonic() > deadline:
                    self._drain_to_buffer()
                    self._write_health()
                    break
            time.sleep(self.settings.flush_interval_s)
        self._done.set()

    def stop(self, timeout: float | None = None) -> None:
        """Flush and forward what is left, then return (readings not forwarded stay buffered)."""
        self._stopping.set()
        self._retry_at = 0.0
        self._done.wait(timeout)

    def _drain_to_buffer(self) -> None:
        batch: list[Reading] = []
        while len(batch) < self.settings.max_batch_readings:
            try:
                batch.append(self.queue.get_nowait())
            except queue.Empty:
                break
        if batch:
            self.stats.buffer_dropped_samples += self.buffer.append(batch)
            self.stats.batches_buffered += 1
            if not self.queue.empty():
                self._drain_to_buffer()

    def _forward(self) -> None:
        while self.buffer.pending_batches and time.monotonic() >= self._retry_at:
            item = self.buffer.oldest()
            if item is None:
                return
            batch_id, readings = item
            try:
                with self.pool.connection() as conn:
                    result = write_readings(conn, readings)
            except (psycopg.DataError, psycopg.IntegrityError) as exc:  # this batch is bad, not the link
                self.stats.db_write_failures += 1
                self.buffer.quarantine(batch_id, str(exc).strip()[:1000])
                continue
            except psycopg.Error as exc:  # connection lost, pool timeout: the database is away
                self.stats.db_write_failures += 1
                log.warning("database write failed, keeping %d readings buffered (retry in %.1f s): %s",
                            len(readings), self._retry_delay, str(exc).strip().splitlines()[0] if str(exc) else exc)
                self._retry_at = time.monotonic() + self._retry_delay
                self._retry_delay = min(self._retry_delay * 2, self.settings.retry_max_s)
                return
            self.buffer.delete(batch_id)
            self._retry_delay = self.settings.retry_initial_s
            self.stats.rows_committed += result.rows_inserted
            self.stats.samples_committed += result.samples
            now = time.monotonic_ns()
            for r in readings:
                if r.received_ns >= self._started_ns:  # readings of an earlier process have another clock
                    self.latency.add((now - r.received_ns) / 1e9)

    def _write_health(self) -> None:
        self._last_health = time.monotonic()
        rows = [(h.device_id, h.last_success, h.last_attempt, h.polls, h.successes, h.consecutive_failures,
                 h.last_latency_s, h.latency_sum_s / h.successes if h.successes else None, h.last_error)
                for h in list(self.stats.devices.values())]
        try:
            write_health(self.pool, rows)
        except psycopg.Error as exc:
            log.info("device health not written (database away): %s", exc)


class Collector:
    """Polls a fleet of devices and streams their readings into the database."""

    def __init__(self, devices: Sequence[DeviceConfig], pool: ConnectionPool, buffer_path: Path,
                 poll: PollSettings | None = None, forward: ForwardSettings | None = None,
                 metrics_port: int | None = None, metrics_host: str = "127.0.0.1",
                 buffer_max_samples: int = 20_000_000) -> None:
        self.devices = list(devices)
        self.poll_settings = poll or PollSettings()
        self.stats = CollectorStats()
        self.buffer = StoreAndForwardBuffer(buffer_path, buffer_max_samples)
        self.forwarder = Forwarder(pool, self.buffer, self.stats, forward or ForwardSettings())
        self.metrics_port, self.metrics_host = metrics_port, metrics_host
        self._stop: asyncio.Event | None = None

    def endpoints(self) -> dict[tuple[str, int], list[DeviceConfig]]:
        groups: dict[tuple[str, int], list[DeviceConfig]] = {}
        for d in self.devices:
            groups.setdefault((d.host, d.port), []).append(d)
        return groups

    async def run(self) -> None:
        """Run until :meth:`request_stop`; then flush and forward before returning."""
        self._stop = asyncio.Event()
        self.forwarder.start()
        pollers = [EndpointPoller(h, p, devs, self.poll_settings, self.forwarder.put, self.stats)
                   for (h, p), devs in self.endpoints().items()]
        tasks = [asyncio.create_task(p.run(), name=f"poll {p.host}:{p.port}") for p in pollers]
        server = await self._start_metrics() if self.metrics_port is not None else None
        log.info("collector: %d devices on %d endpoints", len(self.devices), len(pollers))
        try:
            await self._stop.wait()
        finally:
            for poller in pollers:
                poller.stop()
            for t in tasks:
                t.cancel()
            # bounded: a client that does not honour the cancellation must not hold the shutdown
            _, stuck = await asyncio.wait(tasks, timeout=10)
            if stuck:
                log.warning("%d poller(s) did not stop within 10 s; shutting down without them", len(stuck))
            if server is not None:
                server.close()
            await asyncio.to_thread(self.forwarder.stop)
            log.info("collector stopped: %d values emitted, %d values committed, %d batches left in the buffer",
                     self.stats.samples_emitted, self.stats.samples_committed, self.buffer.pending_batches)
            self.buffer.close()

    def request_stop(self) -> None:
        """Ask :meth:`run` to stop (safe from a signal handler running in the loop)."""
        if self._stop is not None:
            self._stop.set()

    async def _start_metrics(self) -> asyncio.AbstractServer:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                request = await asyncio.wait_for(reader.readline(), 5)
                while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                    pass
                if request.split(b" ")[1:2] == [b"/metrics"]:
                    body = prometheus_text(self.stats, self.buffer.pending_batches,
                                           list(self.forwarder.latency.values)).encode()
                    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                else:
                    body, head = b"not found\n", b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
                writer.write(head + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
                await writer.drain()
            except (TimeoutError, ConnectionError):
                pass
            finally:
                writer.close()

        return await asyncio.start_server(handle, self.metrics_host, self.metrics_port)
