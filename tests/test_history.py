"""The numpy history equals the simulator's own backfill (same physics, same counters), and its binary
COPY payload lands in the table as the writer's row-by-row path would write it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from regie_chaleur.db.database import Database
from regie_chaleur.demo.history import FleetHistory, time_grid, write_history
from regie_chaleur.registry.store import import_inventory_text
from regie_chaleur.services.telemetry import fleet_inventory
from telemetry.simulator.backfill import backfill
from telemetry.simulator.fleet import fleet_specs

SPECS = fleet_specs(5)
IDS = {d.code: i + 1 for i, d in enumerate(d for s in SPECS for d in s.devices)}
# across the October DST change, hourly then every 10 minutes
START = datetime(2026, 10, 24, 0, tzinfo=UTC)
SWITCH = datetime(2026, 10, 26, 12, tzinfo=UTC)
END = datetime(2026, 10, 27, 0, tzinfo=UTC)


def expected() -> dict[tuple[datetime, int], dict[str, float]]:
    """The pure-Python backfill at the same times (hourly part then 10-minute part, counters carried)."""
    out: dict[tuple[datetime, int], dict[str, float]] = {}
    times = time_grid(START, SWITCH, timedelta(hours=1)) + time_grid(SWITCH, END, timedelta(minutes=10))
    # the backfill has one step: evaluate it every 10 minutes and keep our times; its counters then
    # integrate with finer trapezoids, so compare them on the 10-minute part only, and instantaneous
    # values everywhere
    for batch in backfill(SPECS, IDS, START, END, timedelta(minutes=10), merged=True):
        for reading in batch:
            if reading.time in times:
                out[(reading.time, reading.device_id)] = {q: v for q, (v, _) in reading.values.items()}
    return out


def test_numpy_physics_matches_the_simulator() -> None:
    want = expected()
    history = FleetHistory(SPECS, IDS)
    hourly = time_grid(START, SWITCH, timedelta(hours=1))
    fine = time_grid(SWITCH, END, timedelta(minutes=10))
    got = history.chunk(hourly)
    got_fine = history.chunk(fine)
    for times, values in ((hourly, got), (fine, got_fine)):
        for i, t in enumerate(times):
            for j, device in enumerate(history.device_ids):
                ref = want[(t, int(device))]
                for q in ("power", "flow", "t_supply_primary", "t_return_primary", "t_outdoor", "t_supply_secondary",
                          "t_return_secondary", "valve_position", "pump_running"):
                    assert values[q][i, j] == pytest.approx(ref[q], rel=1e-9, abs=1e-9), (t, q)
    # counters: the energy integrated over the 10-minute part equals the backfill's over the same part
    first, last = fine[0], fine[-1]
    for j, device in enumerate(history.device_ids):
        ours = got_fine["energy"][-1, j] - got_fine["energy"][0, j]
        theirs = want[(last, int(device))]["energy"] - want[(first, int(device))]["energy"]
        assert ours == pytest.approx(theirs, rel=1e-9)


def test_binary_payload_is_written_like_the_writer(db: Database) -> None:
    with db.pool.connection() as conn:
        import_inventory_text(conn, fleet_inventory(SPECS), "fleet.yaml")
        ids = dict(conn.execute("SELECT code, id FROM devices").fetchall())
        times = time_grid(START, END, timedelta(hours=1))
        written = list(write_history(conn, SPECS, ids, times, steps_per_chunk=10))
        assert sum(rows for rows, _ in written) == len(times) * len(SPECS)
        row = conn.execute(
            """SELECT time, power, energy, t_outdoor, pump_running, meter_error_code, power_q, energy_q
               FROM substation_samples s JOIN devices d ON d.id = s.device_id
               WHERE d.code = 'SIM-00002-MTR' ORDER BY time DESC LIMIT 1""").fetchone()
    assert row is not None
    last = FleetHistory(SPECS, ids).chunk(times)
    assert row[0] == times[-1]
    assert row[1] == pytest.approx(last["power"][-1, 1], rel=1e-6)  # float4 column
    assert row[2] == pytest.approx(last["energy"][-1, 1], rel=1e-12)  # float8 counter
    assert row[3] == pytest.approx(last["t_outdoor"][-1, 1], rel=1e-6)
    assert row[4:8] == (1, 0, 0, 0)
    assert written[-1][1].at == times[-1]


def test_a_wrapping_register_is_flagged_as_rollover() -> None:
    import numpy as np

    from regie_chaleur.demo.history import Counters

    history = FleetHistory(SPECS[:1], IDS)
    times = time_grid(START, START + timedelta(hours=6), timedelta(hours=1))
    capacity = history.energy_capacity[0]
    history.counters = Counters(START - timedelta(hours=1), np.array([capacity - 500.0]), np.array([10.0]),
                                np.array([300.0]), np.array([6.0]))
    values = history.chunk(times)
    energy = values["energy"][:, 0]
    wrapped_at = int(np.argmax(energy < capacity - 500.0))
    assert energy[wrapped_at] < 500  # wrapped past the capacity
    assert history.wrapped["energy"][:, 0].tolist() == [i == wrapped_at for i in range(len(times))]
