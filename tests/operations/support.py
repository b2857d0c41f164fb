"""A small network with generated history (simulator physics) in a test database."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

from regie_chaleur.db.database import Database
from regie_chaleur.registry.store import import_inventory_text
from regie_chaleur.services.telemetry import fleet_inventory
from telemetry.profiles import load_profiles
from telemetry.samples import Reading
from telemetry.simulator.backfill import backfill
from telemetry.simulator.fleet import SimulatedSubstationSpec, fleet_specs
from telemetry.writer import copy_readings


def device_ids(conn: psycopg.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT code, id FROM devices").fetchall())


def build_network(db: Database, count: int, start: datetime, end: datetime,
                  step: timedelta = timedelta(minutes=10)) -> list[SimulatedSubstationSpec]:
    """Import ``count`` simulated substations and write their history over [start, end)."""
    specs = fleet_specs(count)
    with db.pool.connection() as conn:
        import_inventory_text(conn, fleet_inventory(specs), "fleet.yaml", profiles=load_profiles())
        ids = device_ids(conn)
        batch: list[Reading] = []
        for readings in backfill(specs, ids, start, end, step):
            batch += readings
            if len(batch) > 20_000:
                copy_readings(conn, batch)
                batch = []
        if batch:
            copy_readings(conn, batch)
    return specs
