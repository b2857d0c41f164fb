"""Operations numbers an engineer can sign, computed by hand from hand-made telemetry.

The telemetry goes through the collector's own writer; the rollups follow what was written; the figures
are read back through ``/api/v1``; in TimescaleDB and plain-PostgreSQL modes. The arithmetic of every
expected value is written out beside it.

The network (Paris day 10/03/2026 = 2026-03-09 23:00 to 2026-03-10 23:00 UTC):

- substation S1 (network n1) has two meters, D1 (delivery point PDL-1, registers declared to roll
  over at 100,000 kWh and 10,000 m³) and D2 (PDL-2, capacities left to its profile);
- substation S2 (n1) has one meter D3, whose data arrives late;
- substation S3 (n2) has one meter D4: it must not leak into n1's figures.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime

import httpx
import pytest

from regie_chaleur.api.app import create_app
from regie_chaleur.db.database import Database
from regie_chaleur.errors import ImportValidationError
from regie_chaleur.operations.rollups import refresh_written
from regie_chaleur.registry.inventory import parse_inventory
from regie_chaleur.registry.store import import_inventory_text, read_inventory
from telemetry.profiles import load_profiles
from telemetry.quality import Quality
from telemetry.samples import Reading
from telemetry.writer import write_readings
from tests.support.auth import bearer
from tests.support.http_server import serve

G, INVALID, OUT, ROLLOVER = Quality.GOOD, Quality.INVALID, Quality.OUT_OF_RANGE, Quality.COUNTER_ROLLOVER
DAY = date(2026, 3, 10)

INVENTORY = """
networks: [{code: n1, name: Réseau un}, {code: n2, name: Réseau deux}]
substations:
  - {code: S1, name: Deux compteurs, network: n1}
  - {code: S2, name: Un compteur, network: n1}
  - {code: S3, name: Autre réseau, network: n2}
devices:
  - {code: D1, substation: S1, host: 10.0.0.1, unit_id: 1, profile: kamstrup-multical-603-int32}
  - {code: D2, substation: S1, host: 10.0.0.2, unit_id: 1, profile: kamstrup-multical-603}
  - {code: D3, substation: S2, host: 10.0.0.3, unit_id: 1, profile: kamstrup-multical-603}
  - {code: D4, substation: S3, host: 10.0.0.4, unit_id: 1, profile: kamstrup-multical-603}
meters:
  - {code: M1, device: D1, substation: S1, register_capacity_kwh: 100000, volume_capacity_m3: 10000}
  - {code: M2, device: D2, substation: S1}
  - {code: M3, device: D3, substation: S2}
  - {code: M4, device: D4, substation: S3}
delivery_points:
  - {code: PDL-1, name: Bâtiment A, substation: S1, meter: M1}
  - {code: PDL-2, name: Bâtiment B, substation: S1, meter: M2}
  - {code: PDL-3, name: École, substation: S2, meter: M3}
  - {code: PDL-4, name: Ailleurs, substation: S3, meter: M4}
"""


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def fast(t: str, flow: float, t_sup: float, t_ret: float, power: float) -> dict[str, object]:
    return {"time": at(t), "values": {"flow": (flow, G), "t_supply_primary": (t_sup, G),
                                      "t_return_primary": (t_ret, G), "power": (power, G)}}


def registers(t: str, energy: tuple[float | None, Quality], volume: tuple[float | None, Quality]
              ) -> dict[str, object]:
    return {"time": at(t), "values": {"energy": energy, "volume": volume}}


TELEMETRY = {
    "D1": [
        registers("2026-03-09T22:50", (99_000, G), (9_990, G)),  # the day before (23:50 in Paris)
        fast("2026-03-10T09:10", 10, 90, 50, 465.2),
        registers("2026-03-10T09:05", (99_500, G), (9_995, G)),
        fast("2026-03-10T09:40", 30, 80, 60, 697.8),
        # the collector restarted: the wrapped energy register is not flagged; the volume's is
        registers("2026-03-10T10:05", (300, G), (5, ROLLOVER)),
        fast("2026-03-10T10:10", 20, 85, 45, 1500),
        registers("2026-03-10T11:05", (1_300, G), (25, OUT)),  # a volume out of range: not counted
        registers("2026-03-10T12:05", (1_800, G), (30, G)),
        registers("2026-03-10T13:05", (2_000, G), (None, INVALID)),  # no volume value
        registers("2026-03-10T14:05", (2_100, G), (40, G)),
    ],
    "D2": [
        registers("2026-03-09T22:50", (5_000, G), (100, G)),
        registers("2026-03-10T09:05", (5_400, G), (104, G)),
        fast("2026-03-10T09:20", 20, 90, 40, 1163),
        fast("2026-03-10T10:20", 5, 88, 48, 100),
        registers("2026-03-10T12:05", (6_000, G), (110, G)),
    ],
    "D4": [fast("2026-03-10T09:15", 50, 70, 30, 5000)],
}
# Late, after the first refresh: D3's readings of 1 March, and a D2 reading inside 10 March.
LATE = {
    "D3": [registers("2026-02-28T22:00", (1_000, G), (50, G)), registers("2026-03-01T10:05", (1_600, G), (56, G)),
           registers("2026-03-01T14:05", (1_750, G), (58, G))],
    "D2": [registers("2026-03-10T11:05", (5_700, G), (107, G))],
}


def write(db: Database, telemetry: dict[str, list[dict[str, object]]]) -> None:
    with db.pool.connection() as conn:
        ids = dict(conn.execute("SELECT code, id FROM devices").fetchall())
        readings = [Reading(r["time"], ids[device], r["values"])  # type: ignore[arg-type]
                    for device, rows in telemetry.items() for r in rows]
        write_readings(conn, readings)


@pytest.fixture(params=["db", "plain_db"], ids=["timescaledb", "plain"])
def network(request: pytest.FixtureRequest) -> Iterator[tuple[Database, httpx.Client]]:
    db: Database = request.getfixturevalue(request.param)
    with db.pool.connection() as conn:
        import_inventory_text(conn, INVENTORY, "network.yaml", profiles=load_profiles())
    write(db, TELEMETRY)
    with db.pool.connection() as conn:
        refresh_written(conn)  # what was written is rolled up, whatever its date
    headers = bearer(db, "operator")
    with serve(create_app(db)) as base, httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        yield db, client


def test_flow_weighted_delta_t_return_and_the_peak_of_the_sum(network: tuple[Database, httpx.Client]) -> None:
    _, api = network
    day = {"first": DAY.isoformat(), "last": DAY.isoformat()}
    s1 = api.get("/api/v1/substations/S1/kpis", params=day).json()[0]
    # S1's fast samples (flow q, supply Ts, return Tr): D1 (10, 90, 50), (30, 80, 60), (20, 85, 45);
    # D2 (20, 90, 40), (5, 88, 48). Σq = 85.
    # ΔT = Σq(Ts − Tr) / Σq = (10·40 + 30·20 + 20·40 + 20·50 + 5·40) / 85 = 3000 / 85
    assert s1["delta_t"] == pytest.approx(3000 / 85)  # 35.29 K (a plain mean of the meters would say 35)
    # Tr = Σq·Tr / Σq = (500 + 1800 + 900 + 800 + 240) / 85 = 4240 / 85
    assert s1["t_return_fw"] == pytest.approx(4240 / 85)
    # Ts = (900 + 2400 + 1700 + 1800 + 440) / 85 = 7240 / 85; and Ts − Tr = ΔT
    assert s1["t_supply_fw"] == pytest.approx(7240 / 85)
    # peak of the sum: hour 09 UTC: D1 (465.2 + 697.8) / 2 = 581.5 plus D2 1163 = 1744.5;
    # hour 10: D1 1500 + D2 100 = 1600. Not the larger single peak (D1's 1500).
    assert s1["power_max_kw"] == pytest.approx(1744.5)
    # energy: D1 500 + 800 (the wrap: 300 + 100000 − 99500) + 1000 + 500 + 200 + 100 = 3100;
    # D2 400 + 600 = 1000. Volume: D1 5 + 10 (the flagged wrap: 5 + 10000 − 9995) + 25 (30 − 5, the
    # out-of-range 25 skipped) + 10 (40 − 30, the invalid one skipped) = 50; D2 4 + 6 = 10.
    assert (s1["energy_kwh"], s1["volume_m3"]) == (pytest.approx(4100), pytest.approx(60))
    assert s1["kwh_per_m3"] == pytest.approx(4100 / 60)

    pdl1 = api.get("/api/v1/delivery-points/PDL-1/kpis", params=day).json()[0]
    # D1 alone: Σq = 60; ΔT = (400 + 600 + 800) / 60 = 30; Tr = (500 + 1800 + 900) / 60
    assert pdl1["delta_t"] == pytest.approx(30.0)
    assert pdl1["t_return_fw"] == pytest.approx(3200 / 60)
    assert pdl1["power_max_kw"] == pytest.approx(1500)  # the highest power its meter read
    assert (pdl1["energy_kwh"], pdl1["volume_m3"]) == (pytest.approx(3100), pytest.approx(50))


def test_hourly_and_daily_series_use_the_same_definitions(network: tuple[Database, httpx.Client]) -> None:
    _, api = network
    hours = api.get("/api/v1/substations/S1/series", params={
        "start": "2026-03-10T09:00:00Z", "end": "2026-03-10T11:00:00Z", "resolution": "hour"}).json()["points"]
    nine = hours[0]
    # hour 09: D1 (10, 90, 50), (30, 80, 60); D2 (20, 90, 40). Σq = 60.
    assert nine["t_return_primary"] == pytest.approx((500 + 1800 + 800) / 60)  # flow-weighted, as the days
    assert nine["delta_t"] == pytest.approx((400 + 600 + 1000) / 60)
    assert nine["power"] == pytest.approx(581.5 + 1163)  # summed over the meters
    assert nine["energy_kwh"] == pytest.approx(500 + 400)
    days = api.get("/api/v1/substations/S1/series", params={
        "start": "2026-03-09T23:00:00Z", "end": "2026-03-10T23:00:00Z", "resolution": "day"}).json()["points"]
    assert days[0]["t_return_primary"] == pytest.approx(4240 / 85)
    assert days[0]["delta_t"] == pytest.approx(3000 / 85)


def test_monthly_kpis_of_a_substation_and_a_delivery_point(network: tuple[Database, httpx.Client]) -> None:
    _, api = network
    month = {"first": "2026-03-01", "last": "2026-03-01"}
    s1 = api.get("/api/v1/substations/S1/monthly", params=month).json()
    assert len(s1) == 1
    assert s1[0]["delta_t"] == pytest.approx(3000 / 85)
    assert s1[0]["kwh_per_m3"] == pytest.approx(4100 / 60)
    assert s1[0]["power_max_kw"] == pytest.approx(1744.5)
    assert s1[0]["volume_m3"] == pytest.approx(60)
    pdl2 = api.get("/api/v1/delivery-points/PDL-2/monthly", params=month).json()
    # D2 alone: (20·50 + 5·40) / 25 = 48 K; 1000 kWh for 10 m³
    assert pdl2[0]["delta_t"] == pytest.approx(1200 / 25)
    assert pdl2[0]["kwh_per_m3"] == pytest.approx(100)
    assert api.get("/api/v1/delivery-points/NOPE/monthly", params=month).status_code == 404


def test_the_network_filter_applies_to_every_figure(network: tuple[Database, httpx.Client]) -> None:
    _, api = network
    day = {"first": DAY.isoformat(), "last": DAY.isoformat()}
    n1 = api.get("/api/v1/network/balance", params={**day, "network": "n1"}).json()
    everything = api.get("/api/v1/network/balance", params=day).json()
    assert n1["deliveries_mwh"] == pytest.approx(4.1)
    assert n1["return_fw_c"] == pytest.approx(4240 / 85)  # S1's samples only
    assert n1["peak_load_kw"] == pytest.approx(1744.5)
    # with n2's S3 (flow 50, return 30, 5000 kW at 09:15): (4240 + 1500) / 135; hour 09: 1744.5 + 5000
    assert everything["return_fw_c"] == pytest.approx(5740 / 135)
    assert everything["peak_load_kw"] == pytest.approx(6744.5)


def test_late_data_is_rolled_up_when_it_arrives(network: tuple[Database, httpx.Client]) -> None:
    db, api = network
    first = {"first": "2026-03-01", "last": "2026-03-01"}
    assert api.get("/api/v1/substations/S2/kpis", params=first).json() == []
    write(db, LATE)  # nine days late, and a reading inside 10 March
    with db.pool.connection() as conn:
        refreshed = refresh_written(conn)
    assert refreshed
    s2 = api.get("/api/v1/substations/S2/kpis", params=first).json()
    assert s2[0]["energy_kwh"] == pytest.approx(1750 - 1000)  # 600 + 150 from the day before's 1000
    hours = api.get("/api/v1/substations/S1/series", params={
        "start": "2026-03-10T11:00:00Z", "end": "2026-03-10T13:00:00Z", "resolution": "hour"}).json()["points"]
    # D2's 11:05 reading (5700) splits its 600 kWh of hour 12: 300 in hour 11, 300 left in hour 12 (the
    # hour after the late one is rolled up again too). D1: 1000 in hour 11, 500 in hour 12.
    assert [p["energy_kwh"] for p in hours] == [pytest.approx(1300), pytest.approx(800)]
    assert api.get("/api/v1/substations/S1/kpis", params={"first": DAY.isoformat(), "last": DAY.isoformat()}
                   ).json()[0]["energy_kwh"] == pytest.approx(4100)  # the day's total does not move


def test_meter_capacities_come_from_the_profile_or_are_required(db: Database) -> None:
    with db.pool.connection() as conn:
        import_inventory_text(conn, INVENTORY, "network.yaml", profiles=load_profiles())
        meters = {m.code: m for m in read_inventory(conn).meters}
    # M2's device reads the float set of the MULTICAL 603: 100,000 MWh and 10,000,000 m³ registers
    assert (float(meters["M2"].register_capacity_kwh or 0), float(meters["M2"].volume_capacity_m3 or 0)) == (1e8, 1e7)
    assert (float(meters["M1"].register_capacity_kwh or 0), float(meters["M1"].volume_capacity_m3 or 0)) == (1e5, 1e4)
    manual = ("networks: [{code: n, name: N}]\nsubstations: [{code: S, name: S, network: n}]\n"
              "meters:\n  - {code: M-MANUEL, substation: S}\n")
    with pytest.raises(ImportValidationError) as caught:
        parse_inventory(manual, "manual.yaml", profiles=load_profiles())
    assert [(e.line, e.field) for e in caught.value.errors] == [(4, "register_capacity_kwh")]
    assert "nameplate" in str(caught.value)
    parse_inventory(manual.replace("substation: S}", "substation: S, register_capacity_kwh: 1000000}"),
                    "manual.yaml", profiles=load_profiles())


def test_a_past_range_is_rolled_up_again_on_demand(db: Database) -> None:
    """``regie-chaleur db refresh-rollups`` rolls a chosen past range up again (here after a correction
    made straight in the samples, which no write marked)."""
    with db.pool.connection() as conn:
        import_inventory_text(conn, INVENTORY, "network.yaml", profiles=load_profiles())
    write(db, TELEMETRY)
    with db.pool.connection() as conn:
        refresh_written(conn)
        conn.execute("UPDATE substation_samples SET power = 2000 WHERE power = 1500")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGIE_")}
    env |= {"REGIE_MODE": "development", "REGIE_DATABASE_URL": db.url}
    done = subprocess.run([sys.executable, "-m", "regie_chaleur.cli", "db", "refresh-rollups", "2026-03-10",
                           "2026-03-10"], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "rollups refreshed from 2026-03-09T23:00:00+00:00" in done.stdout
    with db.pool.connection() as conn:
        peak = conn.execute("SELECT power_max_kw FROM substation_daily WHERE day = %s AND device_id = "
                            "(SELECT id FROM devices WHERE code = 'D1')", (DAY,)).fetchone()
    assert peak == (2000,)
