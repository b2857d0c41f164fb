"""Running a collector in a test and reading back what it wrote."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import psycopg

from telemetry.collector import Collector
from telemetry.samples import Reading


def run_collector(collector: Collector, seconds: float, during: Callable[[], None] | None = None) -> list[Reading]:
    emitted: list[Reading] = []
    put = collector.spooler.put

    def capture(reading: Reading) -> None:
        emitted.append(reading)
        put(reading)

    collector.spooler.put = capture  # type: ignore[method-assign]

    async def main() -> None:
        task = asyncio.create_task(collector.run())
        if during is not None:
            await asyncio.to_thread(during)
        else:
            await asyncio.sleep(seconds)
        collector.request_stop()
        await task

    asyncio.run(main())
    return emitted


def wide_keys(conn: psycopg.Connection) -> list[tuple[int, datetime]]:
    return [(r[0], r[1]) for r in conn.execute("SELECT device_id, time FROM substation_samples")]


def expected_wide(readings: list[Reading]) -> set[tuple[int, datetime]]:
    return {(r.device_id, r.time) for r in readings if r.wide_row() is not None}


