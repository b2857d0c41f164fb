"""Rollups equal the raw aggregates in both modes; energy from the register, rollover-safe; the
network balance is production minus deliveries."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from regie_chaleur.db.database import Database
from regie_chaleur.operations.kpis import network_balance, substation_daily_kpis, substation_series
from regie_chaleur.operations.rollups import refresh_operations
from regie_chaleur.services.maintenance import run_maintenance_once
from tests.operations.support import build_network

START = datetime(2026, 1, 10, tzinfo=UTC)
END = START + timedelta(days=3)


def compare_hourly_with_raw(db: Database) -> int:
    with db.pool.connection() as conn:
        rolled = conn.execute(
            """SELECT device_id, bucket, samples, t_return_primary, power_max, flow_x_return
               FROM substation_hourly ORDER BY 1, 2""").fetchall()
        raw = conn.execute(
            """SELECT device_id, date_bin('1 hour', time, '2000-01-03'::timestamptz), count(*),
                      avg(t_return_primary) FILTER (WHERE t_return_primary_q = 0),
                      max(power) FILTER (WHERE power_q = 0),
                      sum(flow * t_return_primary) FILTER (WHERE flow_q = 0 AND t_return_primary_q = 0)
               FROM substation_samples GROUP BY 1, 2 ORDER BY 1, 2""").fetchall()
    assert len(rolled) == len(raw)
    for a, b in zip(rolled, raw, strict=True):
        assert a[:3] == b[:3]
        assert a[3:] == pytest.approx(b[3:], nan_ok=True) if None not in a[3:] + b[3:] else a[3:] == b[3:]
    return len(rolled)


@pytest.mark.parametrize("mode", ["best", "plain"])
def test_rollups_equal_raw_aggregates(mode: str, db: Database, plain_db: Database) -> None:
    target = db if mode == "best" else plain_db
    build_network(target, 3, START, END)
    with target.pool.connection() as conn:
        refresh_operations(conn, START, END)
    assert compare_hourly_with_raw(target) == 3 * 2 * 72
    with target.pool.connection() as conn:
        # energy per hour adds up to the register difference over the period
        per_device = conn.execute(
            """SELECT e.device_id, sum(e.energy_kwh),
                      (SELECT max(energy) FROM substation_samples s WHERE s.device_id = e.device_id)
                      - (SELECT min(energy) FROM substation_samples s WHERE s.device_id = e.device_id)
               FROM energy_hourly e GROUP BY 1""").fetchall()
        days = conn.execute("SELECT count(DISTINCT day) FROM substation_daily").fetchone()
    assert len(per_device) == 3
    for _, summed, diff in per_device:
        assert summed == pytest.approx(diff, rel=1e-9)
    assert days == (4,)  # three UTC days span four Europe/Paris days


def test_both_modes_give_the_same_rollups(db: Database, plain_db: Database) -> None:
    results = []
    for target in (db, plain_db):
        build_network(target, 2, START, START + timedelta(days=1))
        with target.pool.connection() as conn:
            refresh_operations(conn, START, START + timedelta(days=1))
            results.append(conn.execute(
                "SELECT d.code, h.bucket, round(h.power_avg::numeric, 6), round(e.energy_kwh::numeric, 6) "
                "FROM substation_hourly h JOIN devices d ON d.id = h.device_id "
                "LEFT JOIN energy_hourly e USING (device_id, bucket) ORDER BY 1, 2").fetchall())
    assert results[0] == results[1]


def test_energy_is_rollover_safe(db: Database) -> None:
    build_network(db, 1, START, START + timedelta(days=1))
    with db.pool.connection() as conn:
        meter = conn.execute("SELECT id FROM devices WHERE code = 'SIM-00001-MTR'").fetchone()[0]  # type: ignore[index]
        before = START + timedelta(hours=12)
        # the register wraps at 100,000,000 kWh at noon: shift earlier readings near the capacity
        conn.execute("UPDATE substation_samples SET energy = energy + 100000000 - 3000000 "
                     "WHERE device_id = %s AND time < %s", (meter, before))
        conn.execute("UPDATE substation_samples SET energy = energy - 3000000, energy_q = 4 WHERE device_id = %s "
                     "AND time = (SELECT min(time) FROM substation_samples WHERE device_id = %s AND time >= %s)",
                     (meter, meter, before))
        conn.execute("UPDATE substation_samples SET energy = energy - 3000000 WHERE device_id = %s AND time > "
                     "(SELECT min(time) FROM substation_samples WHERE device_id = %s AND time >= %s)",
                     (meter, meter, before))
        refresh_operations(conn, START, START + timedelta(days=1))
        hourly = [r[0] for r in conn.execute(
            "SELECT energy_kwh FROM energy_hourly WHERE device_id = %s ORDER BY bucket", (meter,))]
    assert all(0 <= e < 10_000 for e in hourly)  # no hour gets a huge positive or negative jump
    assert len(hourly) == 24


def test_network_balance_and_daily_kpis(db: Database) -> None:
    specs = build_network(db, 4, START, END)
    with db.pool.connection() as conn:
        # a plant meter that produced 12 % more than the deliveries, at the same instants
        conn.execute("INSERT INTO plants (code, name, network, kind, capacity_mw) "
                     "VALUES ('UVE', 'UVE', 'sim', 'recovered_heat', 40)")
        conn.execute("INSERT INTO devices (code, plant_id, host, port, unit_id, profile) "
                     "SELECT 'UVE-MTR', id, '127.9.9.9', 5020, 1, 'kamstrup-multical-603' FROM plants")
        conn.execute("INSERT INTO meters (code, device_id, plant_id) SELECT 'UVE-M', d.id, d.plant_id FROM devices d "
                     "WHERE d.code = 'UVE-MTR'")
        conn.execute(
            """INSERT INTO substation_samples (time, device_id, energy, energy_q)
               SELECT s.time, (SELECT id FROM devices WHERE code = 'UVE-MTR'), 1.12 * sum(s.energy), 0
               FROM substation_samples s JOIN meters m ON m.device_id = s.device_id
               WHERE s.energy_q = 0 GROUP BY s.time""")
        refresh_operations(conn, START, END)
        balance = network_balance(conn, date(2026, 1, 11), date(2026, 1, 12))
        kpis = substation_daily_kpis(conn, specs[0].code, date(2026, 1, 11), date(2026, 1, 12))
        series = substation_series(conn, specs[0].code, START, START + timedelta(days=1), "hour")
    assert balance.losses_mwh == pytest.approx(balance.production_mwh - balance.deliveries_mwh)
    assert balance.losses_pct == pytest.approx(100 * 0.12 / 1.12, rel=1e-6)
    assert balance.deliveries_mwh > 0
    assert 42 <= balance.return_fw_c <= 50  # type: ignore[operator]
    assert len(kpis) == 2
    for k in kpis:
        assert k.energy_kwh > 0  # type: ignore[operator]
        assert k.dju is not None
        assert k.dju > 0
        assert 20 < k.kwh_per_m3 < 80  # type: ignore[operator]  # 1.163 kWh/m³K × ΔT of 30-60 K
    assert len(series) == 24
    assert all(p["energy_kwh"] > 0 for p in series)


def test_maintenance_pass_refreshes_what_was_written(plain_db: Database) -> None:
    build_network(plain_db, 2, START, START + timedelta(hours=6))
    first = run_maintenance_once(plain_db.pool, START + timedelta(hours=5))
    second = run_maintenance_once(plain_db.pool, START + timedelta(hours=6))
    with plain_db.pool.connection() as conn:
        hours = conn.execute("SELECT count(DISTINCT bucket) FROM substation_hourly").fetchone()
    # the six hours written, in one range (the energy's next hour has no reading: nothing beyond)
    assert first["rollups"] == [(START.isoformat(), (START + timedelta(hours=6)).isoformat())]
    assert second["rollups"] == [(START.isoformat(), (START + timedelta(hours=6)).isoformat())]  # overlap
    assert hours == (6,)
