"""Store-and-forward: a durable local buffer of readings, a SQLite file in WAL mode.

Every batch of readings is appended here first, then forwarded to the database oldest first and
deleted once committed. A crash (even SIGKILL) between the commit and the delete only replays a batch
the database already has, which the writer's ``ON CONFLICT DO NOTHING`` makes harmless; a database
outage just lets batches accumulate until it returns.

The buffer is bounded (``max_samples``). When a new batch would exceed the bound, the **oldest**
batches are dropped, logged at WARNING and counted (``regie_collector_buffer_dropped_samples_total``):
fresh values matter most for operating the network, and energy/volume registers are cumulative, so a
later reading still carries the energy of the dropped period for billing.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

from telemetry.samples import Reading, dumps, loads

log = logging.getLogger(__name__)


class StoreAndForwardBuffer:
    """A bounded, durable FIFO of reading batches."""

    def __init__(self, path: Path, max_samples: int = 20_000_000) -> None:
        """Open (or create) the buffer file.

        Args:
            path: the SQLite file; its directory is created.
            max_samples: bound on the values held; beyond it the oldest batches are dropped.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_samples = max_samples
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # durable across a process crash (WAL)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS batches (id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL NOT NULL, "
            "samples INTEGER NOT NULL, payload BLOB NOT NULL)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS quarantine (id INTEGER PRIMARY KEY, created REAL NOT NULL, "
            "samples INTEGER NOT NULL, payload BLOB NOT NULL, reason TEXT NOT NULL, at REAL NOT NULL)"
        )
        row = self._db.execute("SELECT count(*), coalesce(sum(samples), 0) FROM batches").fetchone()
        self._batches, self._samples = int(row[0]), int(row[1])

    def append(self, readings: list[Reading]) -> int:
        """Store a batch durably; returns how many values were dropped to make room (usually 0)."""
        samples = sum(r.sample_count for r in readings)
        dropped = 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                while self._samples + samples > self.max_samples and self._batches:
                    oldest = self._db.execute("SELECT id, samples FROM batches ORDER BY id LIMIT 1").fetchone()
                    self._db.execute("DELETE FROM batches WHERE id = ?", (oldest[0],))
                    self._batches -= 1
                    self._samples -= int(oldest[1])
                    dropped += int(oldest[1])
                self._db.execute("INSERT INTO batches (created, samples, payload) VALUES (?, ?, ?)",
                                 (time.time(), samples, dumps(readings)))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._batches += 1
            self._samples += samples
        if dropped:
            log.warning("store-and-forward buffer full (%d values): dropped the oldest %d values",
                        self.max_samples, dropped)
        return dropped

    def oldest(self) -> tuple[int, list[Reading]] | None:
        """The oldest batch (id, readings), or None when empty."""
        with self._lock:
            row = self._db.execute("SELECT id, payload FROM batches ORDER BY id LIMIT 1").fetchone()
        return None if row is None else (int(row[0]), loads(row[1]))

    def oldest_batches(self, max_readings: int) -> list[tuple[int, list[Reading]]]:
        """The oldest batches, in order, holding at most ``max_readings`` readings together (at least one
        batch when any is waiting)."""
        out: list[tuple[int, list[Reading]]] = []
        total = 0
        with self._lock:
            cursor = self._db.execute("SELECT id, payload FROM batches ORDER BY id LIMIT 200")
            for batch_id, payload in cursor:
                readings = loads(payload)
                if out and total + len(readings) > max_readings:
                    break
                out.append((int(batch_id), readings))
                total += len(readings)
        return out

    def delete_many(self, batch_ids: list[int]) -> None:
        """Forget batches once the database committed them (one transaction)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            gone: list[int] = []
            try:
                for batch_id in batch_ids:
                    row = self._db.execute("DELETE FROM batches WHERE id = ? RETURNING samples", (batch_id,)).fetchone()
                    if row is not None:
                        gone.append(int(row[0]))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._batches -= len(gone)
            self._samples -= sum(gone)

    def delete(self, batch_id: int) -> None:
        """Forget a batch once the database committed it."""
        with self._lock:
            cur = self._db.execute("DELETE FROM batches WHERE id = ? RETURNING samples", (batch_id,))
            row = cur.fetchone()
            if row is not None:
                self._batches -= 1
                self._samples -= int(row[0])

    def quarantine(self, batch_id: int, reason: str) -> None:
        """Move a batch the database rejected (bad data, not an outage) aside, kept for inspection,
        so it does not block the batches behind it."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT INTO quarantine SELECT id, created, samples, payload, ?, ? FROM batches "
                             "WHERE id = ?", (reason, time.time(), batch_id))
            row = self._db.execute("DELETE FROM batches WHERE id = ? RETURNING samples", (batch_id,)).fetchone()
            self._db.execute("COMMIT")
            if row is not None:
                self._batches -= 1
                self._samples -= int(row[0])
        log.error("database rejected batch %d, moved to the buffer's quarantine table: %s", batch_id, reason)

    def oldest_age_s(self) -> float:
        """[s] since the oldest waiting batch was buffered (0 when empty)."""
        with self._lock:
            row = self._db.execute("SELECT min(created) FROM batches").fetchone()
        return max(0.0, time.time() - float(row[0])) if row and row[0] is not None else 0.0

    @property
    def quarantined_batches(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM quarantine").fetchone()[0])

    @property
    def pending_batches(self) -> int:
        return self._batches

    @property
    def pending_samples(self) -> int:
        return self._samples

    def close(self) -> None:
        with self._lock:
            self._db.close()
