"""Readings: the decoded result of one block read, and its rows for the wide and narrow tables."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from telemetry.quality import Quality
from telemetry.quantities import CANONICAL

WIDE_QUANTITIES: tuple[str, ...] = tuple(CANONICAL)
#: PostgreSQL type of each wide column (counters need double precision; sensors fit in real)
WIDE_SQL_TYPES: dict[str, str] = {
    q: {"energy": "float8", "volume": "float8", "pump_running": "int2", "meter_error_code": "int4"}.get(q, "float4")
    for q in WIDE_QUANTITIES
}
WIDE_COLUMNS: tuple[str, ...] = ("time", "device_id", *WIDE_QUANTITIES, *(f"{q}_q" for q in WIDE_QUANTITIES))
NARROW_COLUMNS: tuple[str, ...] = ("time", "device_id", "point", "value", "quality")


@dataclass(slots=True)
class Reading:
    """The values of one block read of one device at one time.

    ``time`` is the UTC time the response arrived (or the attempt failed); ``received_ns`` is the
    monotonic clock then, for response-to-commit latency.
    """

    time: datetime
    device_id: int
    values: dict[str, tuple[float | None, Quality]]
    received_ns: int = 0

    def wide_row(self) -> tuple[Any, ...] | None:
        """The row of ``substation_samples`` (None when the block held no canonical quantity)."""
        if not any(name in CANONICAL for name in self.values):
            return None
        vals = [self.values.get(q, (None, None)) for q in WIDE_QUANTITIES]
        return (self.time, self.device_id, *(v[0] for v in vals),
                *(None if v[1] is None else int(v[1]) for v in vals))

    def narrow_rows(self) -> list[tuple[Any, ...]]:
        """Rows of ``device_samples`` for the points that are not canonical quantities."""
        return [(self.time, self.device_id, name, value, int(quality))
                for name, (value, quality) in self.values.items() if name not in CANONICAL]

    @property
    def sample_count(self) -> int:
        """Values carried (each point read counts as one sample)."""
        return len(self.values)

    # --- serialisation for the store-and-forward buffer ---------------------------------------
    def to_json(self) -> list[Any]:
        return [int(self.time.timestamp() * 1_000_000), self.device_id,
                {k: [v, int(q)] for k, (v, q) in self.values.items()}, self.received_ns]

    @classmethod
    def from_json(cls, data: list[Any]) -> Reading:
        micros, device_id, values, received = data
        return cls(datetime.fromtimestamp(micros / 1_000_000, UTC), int(device_id),
                   {k: (v[0], Quality(v[1])) for k, v in values.items()}, int(received))


def dumps(readings: list[Reading]) -> bytes:
    return json.dumps([r.to_json() for r in readings], separators=(",", ":")).encode()


def loads(payload: bytes) -> list[Reading]:
    return [Reading.from_json(item) for item in json.loads(payload)]
