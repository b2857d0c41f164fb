"""The collector's two legs after the pollers: the spooler (in-memory queue to the durable buffer, never
waiting on the database) and the forwarder (buffer to the database, oldest first, every write under a
watchdog), with the connection options that let a dead or silent database be noticed in seconds."""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import psycopg

from telemetry.buffer import StoreAndForwardBuffer
from telemetry.health import CollectorStats
from telemetry.samples import Reading
from telemetry.writer import WriteResult, write_health, write_readings

log = logging.getLogger("telemetry.collector")  # one logger for the whole collector, as operators read it
T = TypeVar("T")

#: opens a connection to the database, given the connect timeout [s] to use
Connector = Callable[[int], psycopg.Connection]


@dataclass(frozen=True)
class ForwardSettings:
    """How readings travel to the database."""

    flush_interval_s: float = 0.2  # [s] queue → durable buffer
    max_batch_readings: int = 5000
    retry_initial_s: float = 0.5  # [s] wait after a failed database write, doubled...
    retry_max_s: float = 10.0  # [s] ...up to this
    write_timeout_s: float = 10.0  # [s] a write (or a wait for a connection) longer than this is abandoned
    health_every_s: float = 15.0  # [s] device health written to the database
    shutdown_timeout_s: float = 6.0  # [s] forwarding allowed at shutdown, the write in flight included


def connector(url: str, write_timeout_s: float = ForwardSettings.write_timeout_s) -> Connector:
    """A :data:`Connector` to ``url`` with :func:`connection_options`."""
    options = connection_options(write_timeout_s)

    def connect(timeout_s: int) -> psycopg.Connection:
        return psycopg.connect(url, **{**options, "connect_timeout": timeout_s})  # type: ignore[arg-type]

    return connect


def connection_options(write_timeout_s: float = ForwardSettings.write_timeout_s) -> dict[str, object]:
    """libpq options for the collector's connections: a dead or silent server is noticed in seconds.

    Args:
        write_timeout_s: [s] the forwarder's write limit; the server cancels a statement running longer.
    """
    return {
        "autocommit": True,
        "connect_timeout": 3,  # [s] the whole connection set-up
        "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 3, "keepalives_count": 3,
        "tcp_user_timeout": int(write_timeout_s * 1000),  # [ms] unacknowledged data: the link is dead
        "options": f"-c statement_timeout={int(write_timeout_s * 1000)} "
                   f"-c idle_in_transaction_session_timeout={int(4 * write_timeout_s * 1000)}",
    }


@dataclass
class LatencyRecorder:
    """Response-to-commit latencies [s] of this process's readings (a bounded reservoir)."""

    limit: int = 500_000
    values: list[float] = field(default_factory=list)

    def add(self, seconds: float) -> None:
        if len(self.values) < self.limit:
            self.values.append(seconds)


class WriteAbandoned(psycopg.OperationalError):
    """A database call did not finish within its limit; its connection was shut down."""


def _shutdown_socket(conn: psycopg.Connection) -> None:
    """Fail whatever call is blocked on ``conn`` at once: shut its socket down (both ways)."""
    with contextlib.suppress(OSError, psycopg.Error, ValueError):
        fd = conn.pgconn.socket
        sock = socket.socket(fileno=os.dup(fd))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.close()


class Spooler(threading.Thread):
    """Moves readings from the in-memory queue to the durable buffer, never waiting on the database."""

    def __init__(self, buffer: StoreAndForwardBuffer, stats: CollectorStats, settings: ForwardSettings,
                 spooled: Callable[[], None] | None = None) -> None:
        """
        Args:
            spooled: called after each batch reached the buffer (wakes the forwarder).
        """
        super().__init__(name="spooler", daemon=True)
        self.buffer, self.stats, self.settings = buffer, stats, settings
        self.spooled = spooled
        self.queue: queue.SimpleQueue[Reading] = queue.SimpleQueue()
        self._stopping = threading.Event()

    def put(self, reading: Reading) -> None:
        self.queue.put(reading)

    def run(self) -> None:
        while not self._stopping.wait(self.settings.flush_interval_s):
            self.drain()
        self.drain()

    def stop(self) -> None:
        """Spool what is queued, then return."""
        self._stopping.set()
        self.join()

    def drain(self) -> None:
        """Append everything queued to the buffer, in batches of at most ``max_batch_readings``."""
        while True:
            batch: list[Reading] = []
            while len(batch) < self.settings.max_batch_readings:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            if not batch:
                return
            self.stats.buffer_dropped_samples += self.buffer.append(batch)
            self.stats.batches_buffered += 1
            if self.spooled is not None:
                self.spooled()


class Forwarder(threading.Thread):
    """Writes the buffer's batches to the database, oldest first, each write under a watchdog."""

    def __init__(self, connect: Connector, buffer: StoreAndForwardBuffer, stats: CollectorStats,
                 settings: ForwardSettings) -> None:
        super().__init__(name="forwarder", daemon=True)
        self.connect, self.buffer, self.stats, self.settings = connect, buffer, stats, settings
        self._conn: psycopg.Connection | None = None  # the forwarder's own connection, opened on demand
        self.latency = LatencyRecorder()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._done = threading.Event()
        self._retry_at = 0.0
        self._retry_delay = settings.retry_initial_s
        self._started_ns = time.monotonic_ns()
        self._last_health = time.monotonic()
        self._outage_since: float | None = None  # monotonic start of the current outage
        self._deadline: float | None = None  # monotonic end of the shutdown's forwarding
        self._inflight: psycopg.Connection | None = None
        self._inflight_lock = threading.Lock()

    def run(self) -> None:
        while True:
            self._wake.clear()  # a batch spooled from now on wakes the wait below
            self._forward()
            self.stats.oldest_pending_age_s = self.buffer.oldest_age_s()
            if self._stopping.is_set():
                if self.buffer.pending_batches == 0 or self._past_deadline():
                    break
            elif time.monotonic() - self._last_health >= self.settings.health_every_s:
                self._write_health()
            self._wake.wait(self.settings.flush_interval_s)
        if self.buffer.pending_batches == 0:
            self._write_health()
        self._close_connection()
        self._done.set()

    def wake(self) -> None:
        """Forward now: a batch is waiting (its wait for the next flush would only add latency)."""
        self._wake.set()

    def stop(self) -> None:
        """Forward what is left within ``shutdown_timeout_s``, then return (the rest stays buffered)."""
        self._deadline = time.monotonic() + self.settings.shutdown_timeout_s
        self._retry_at = 0.0
        self._stopping.set()
        self._wake.set()
        if not self._done.wait(self.settings.shutdown_timeout_s):
            with self._inflight_lock:  # a write still blocked: abandon it now
                if self._inflight is not None:
                    _shutdown_socket(self._inflight)
            self._done.wait(2.0)

    def _past_deadline(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _forward(self) -> None:
        """Write the oldest batches, several per transaction when a backlog waits (up to
        ``max_batch_readings`` readings), until the buffer is empty or the database is away."""
        while self.buffer.pending_batches and time.monotonic() >= self._retry_at and not self._past_deadline():
            items = self.buffer.oldest_batches(self.settings.max_batch_readings)
            if not items:
                return
            readings = [r for _, batch in items for r in batch]
            try:
                result = self._bounded(lambda conn, rs=readings: write_readings(conn, rs))  # type: ignore[misc]
            except (psycopg.DataError, psycopg.IntegrityError) as exc:  # bad data, not the link
                self.stats.db_write_failures += 1
                if len(items) == 1:
                    self.buffer.quarantine(items[0][0], str(exc).strip()[:1000])
                else:  # find the bad batch: one at a time from here
                    self._forward_one_by_one(items)
                continue
            except psycopg.Error as exc:  # refused, reset, hung: the database is away
                self.stats.db_write_failures += 1
                self._database_down(exc, len(readings))
                return
            self._committed([batch_id for batch_id, _ in items], readings, result)

    def _forward_one_by_one(self, items: list[tuple[int, list[Reading]]]) -> None:
        for batch_id, readings in items:
            try:
                result = self._bounded(lambda conn, rs=readings: write_readings(conn, rs))  # type: ignore[misc]
            except (psycopg.DataError, psycopg.IntegrityError) as exc:
                self.buffer.quarantine(batch_id, str(exc).strip()[:1000])
                continue
            self._committed([batch_id], readings, result)

    def _committed(self, batch_ids: list[int], readings: list[Reading], result: WriteResult) -> None:
        self.buffer.delete_many(batch_ids)
        self._database_up()
        self.stats.rows_committed += result.rows_inserted
        self.stats.samples_committed += result.samples
        now = time.monotonic_ns()
        for r in readings:
            if r.received_ns >= self._started_ns:  # readings of an earlier process have another clock
                self.latency.add((now - r.received_ns) / 1e9)

    def _bounded(self, work: Callable[[psycopg.Connection], T]) -> T:
        """Run ``work`` on the forwarder's connection (opened if needed); abandon it after
        ``write_timeout_s``, or at the shutdown's deadline, whichever comes first.

        Raises:
            WriteAbandoned: the limit passed (the connection is dropped, the batch stays buffered).
            psycopg.Error: the database refused or the link broke (the connection is dropped).
        """
        limit = self.settings.write_timeout_s
        if self._deadline is not None:
            limit = max(0.1, min(limit, self._deadline - time.monotonic()))
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            self._close_connection()
            conn = self._conn = self.connect(max(2, int(limit)))
        fired = threading.Event()

        def abandon() -> None:
            fired.set()
            _shutdown_socket(conn)

        timer = threading.Timer(limit, abandon)
        timer.daemon = True
        with self._inflight_lock:
            self._inflight = conn
        timer.start()
        try:
            return work(conn)
        except psycopg.OperationalError as exc:
            self._close_connection()
            if fired.is_set():
                raise WriteAbandoned(f"no answer from the database within {limit:g} s") from exc
            raise
        finally:
            timer.cancel()
            with self._inflight_lock:
                self._inflight = None

    def _close_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                self._conn.close()
            self._conn = None

    def _database_down(self, exc: BaseException, readings: int) -> None:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            self.stats.database_up = False
            log.warning("database unavailable (%s): readings are kept in the buffer (%s) and forwarded when it "
                        "returns", first_line, self.buffer.path)
        else:
            log.debug("database still unavailable (%s), %d readings waiting", first_line, readings)
        self._retry_at = time.monotonic() + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, self.settings.retry_max_s)

    def _database_up(self) -> None:
        self._retry_delay = self.settings.retry_initial_s
        if self._outage_since is not None:
            log.warning("database available again after %.0f s: forwarding %d buffered batches",
                        time.monotonic() - self._outage_since, self.buffer.pending_batches)
            self._outage_since = None
            self.stats.database_up = True

    def _write_health(self) -> None:
        self._last_health = time.monotonic()
        if self._outage_since is not None and not self._stopping.is_set():
            return  # the next successful write brings the database back; health can wait for it
        rows = [(h.device_id, h.last_success, h.last_attempt, h.polls, h.successes, h.consecutive_failures,
                 h.last_latency_s, h.latency_sum_s / h.successes if h.successes else None, h.last_error,
                 h.last_error_kind, h.last_failure)
                for h in list(self.stats.devices.values())]
        try:
            self._bounded(lambda conn: write_health(conn, rows))
        except psycopg.Error as exc:
            log.info("device health not written (database away): %s", str(exc).strip()[:200])


