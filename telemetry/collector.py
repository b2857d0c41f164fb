"""The collector: pollers for every endpoint, a spooler and a forwarder thread, health and metrics.

Data path: poller → in-memory queue → (every ``flush_interval_s``, by the spooler thread) a batch
appended to the durable buffer → (the forwarder thread) written to the database oldest first, deleted
once committed. The spooler never touches the database, so whatever the database does (refuses,
resets, or hangs with its connections open and no byte passing) readings reach the disk within a
flush interval.

Every database write runs under a watchdog: a write that has not finished within ``write_timeout_s``
is abandoned (its socket is shut down, which fails the blocked call at once) and retried later, its
batch still in the buffer. Connections are opened with :func:`connection_options` (connect timeout,
TCP keepalives, statement timeout). An outage is logged once when it starts and once when it ends.

On SIGTERM (:meth:`Collector.request_stop`) the pollers end, the queue is spooled to the buffer, and the
buffer is forwarded until empty or ``shutdown_timeout_s``; a write still running then is abandoned.
What is left stays in the file for the next start, which a replay makes harmless (``ON CONFLICT DO
NOTHING`` on the natural key).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from telemetry.buffer import StoreAndForwardBuffer
from telemetry.forwarding import (
    Connector,
    Forwarder,
    ForwardSettings,
    Spooler,
    connection_options,
    connector,
)
from telemetry.health import CollectorStats, prometheus_text
from telemetry.poller import DeviceConfig, EndpointPoller, PollSettings

log = logging.getLogger(__name__)

__all__ = ["Collector", "Connector", "ForwardSettings", "connection_options", "connector"]


class Collector:
    """Polls a fleet of devices and streams their readings into the database."""

    def __init__(self, devices: Sequence[DeviceConfig], connect: Connector, buffer_path: Path,
                 poll: PollSettings | None = None, forward: ForwardSettings | None = None,
                 metrics_port: int | None = None, metrics_host: str = "127.0.0.1",
                 buffer_max_samples: int = 20_000_000) -> None:
        self.devices = list(devices)
        self.poll_settings = poll or PollSettings()
        self.stats = CollectorStats()
        self.buffer = StoreAndForwardBuffer(buffer_path, buffer_max_samples)
        self.forward_settings = forward or ForwardSettings()
        self.forwarder = Forwarder(connect, self.buffer, self.stats, self.forward_settings)
        self.spooler = Spooler(self.buffer, self.stats, self.forward_settings, self.forwarder.wake)
        self.metrics_port, self.metrics_host = metrics_port, metrics_host
        self._stop: asyncio.Event | None = None

    def endpoints(self) -> dict[tuple[str, int], list[DeviceConfig]]:
        groups: dict[tuple[str, int], list[DeviceConfig]] = {}
        for d in self.devices:
            groups.setdefault((d.host, d.port), []).append(d)
        return groups

    async def run(self) -> None:
        """Run until :meth:`request_stop`; then spool and forward before returning."""
        self._stop = asyncio.Event()
        self.spooler.start()
        self.forwarder.start()
        pollers = [EndpointPoller(h, p, devs, self.poll_settings, self.spooler.put, self.stats)
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
            _, stuck = await asyncio.wait(tasks, timeout=5) if tasks else (set(), set())
            if stuck:  # a poller ends at its next step after a cancellation; this is a bug if it shows
                log.error("%d poller(s) did not stop within 5 s of their cancellation", len(stuck))
            if server is not None:
                server.close()
            await asyncio.to_thread(self.spooler.stop)  # from here every reading is on disk
            await asyncio.to_thread(self.forwarder.stop)
            log.info("collector stopped: %d values emitted, %d values committed, %d batches left in the buffer",
                     self.stats.samples_emitted, self.stats.samples_committed, self.buffer.pending_batches)
            if not self.forwarder.is_alive():
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
                    self.stats.oldest_pending_age_s = self.buffer.oldest_age_s()
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

        server = await asyncio.start_server(handle, self.metrics_host, self.metrics_port)
        self.metrics_port = int(server.sockets[0].getsockname()[1])  # the system's choice when asked for 0
        return server
