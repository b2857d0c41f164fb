"""The network forecast in the application: weather providers (file, Open-Meteo format over HTTP),
a stored 7-day forecast with the weather it used, rolling accuracy."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pandas as pd
import pytest

from regie_chaleur.db.database import Database
from regie_chaleur.errors import RegieError
from regie_chaleur.operations.rollups import refresh_operations
from regie_chaleur.services.forecast import forecast_accuracy, read_history, run_network_forecast
from regie_chaleur.services.weather import FileProvider, OpenMeteoProvider, WeatherError, import_observations
from telemetry.simulator.physics import outdoor_temperature
from tests.operations.support import build_network

NOW = datetime(2026, 2, 1, 12, tzinfo=UTC)


def meteo_body(start: datetime, hours: int) -> dict[str, object]:
    times = [start + timedelta(hours=h) for h in range(hours)]
    return {"latitude": 48.8, "longitude": 2.4, "utc_offset_seconds": 0, "timezone": "UTC",
            "hourly_units": {"time": "iso8601", "temperature_2m": "°C"},
            "hourly": {"time": [t.strftime("%Y-%m-%dT%H:%M") for t in times],
                       "temperature_2m": [round(outdoor_temperature(t), 1) for t in times]}}


class _Meteo(BaseHTTPRequestHandler):
    requests: list[str] = []  # noqa: RUF012
    broken = False

    def do_GET(self) -> None:
        _Meteo.requests.append(self.path)
        body = b"{not json" if _Meteo.broken else json.dumps(meteo_body(NOW - timedelta(days=1), 9 * 24)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def meteo() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Meteo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Meteo.requests.clear()
    _Meteo.broken = False
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_open_meteo_client(meteo: str) -> None:
    provider = OpenMeteoProvider(meteo, 48.8156, 2.3849)
    series = provider.fetch(NOW, NOW + timedelta(hours=168))
    assert len(series) == 168
    assert series.index[0] == pd.Timestamp(NOW)
    assert "hourly=temperature_2m" in _Meteo.requests[0]
    assert "latitude=48.8156" in _Meteo.requests[0]
    _Meteo.broken = True
    with pytest.raises(WeatherError, match="unexpected answer"):
        provider.fetch(NOW, NOW + timedelta(hours=24))
    with pytest.raises(WeatherError, match=r"weather forecast service http://127\.0\.0\.1:9"):
        OpenMeteoProvider("http://127.0.0.1:9", 0, 0, timeout_s=1).fetch(NOW, NOW + timedelta(hours=1))


def test_network_forecast_is_stored_and_tracked(db: Database, meteo: str, tmp_path: Path) -> None:
    build_network(db, 4, NOW - timedelta(days=60), NOW + timedelta(days=3), step=timedelta(hours=1))
    with db.pool.connection() as conn:
        refresh_operations(conn, NOW - timedelta(days=60), NOW + timedelta(days=3))
        history = read_history(conn, NOW - timedelta(days=60), NOW)
        assert history["load"].notna().sum() > 1000
        issued = run_network_forecast(conn, OpenMeteoProvider(meteo, 48.8, 2.4), NOW)
        stored = conn.execute("SELECT count(*), min(horizon_h), max(horizon_h), bool_and(p10_mw <= p50_mw AND "
                              "p50_mw <= p90_mw) FROM load_forecast_values WHERE forecast_id = %s",
                              (issued.id,)).fetchone()
        source = conn.execute("SELECT weather_source FROM load_forecasts WHERE id = %s", (issued.id,)).fetchone()
        accuracy = forecast_accuracy(conn, NOW + timedelta(days=3), days=5)
    assert stored == (168, 1, 168, True)
    assert source == ("open-meteo",)
    assert [a["horizon_from_h"] for a in accuracy] == [1, 25, 49]
    assert all(a["mape"] < 10 for a in accuracy)  # the simulated network follows its own weather


def test_substation_forecast_is_the_same_code_on_its_own_load(db: Database, meteo: str) -> None:
    specs = build_network(db, 4, NOW - timedelta(days=60), NOW + timedelta(days=3), step=timedelta(hours=1))
    code = specs[0].code
    provider = OpenMeteoProvider(meteo, 48.8, 2.4)
    with db.pool.connection() as conn:
        refresh_operations(conn, NOW - timedelta(days=60), NOW + timedelta(days=3))
        network = read_history(conn, NOW - timedelta(days=60), NOW)["load"]
        own = read_history(conn, NOW - timedelta(days=60), NOW, code)["load"]
        issued = run_network_forecast(conn, provider, NOW, substation=code)
        network_issued = run_network_forecast(conn, provider, NOW)  # the same instant, another scope
        scopes = dict(conn.execute("SELECT id, scope FROM load_forecasts").fetchall())
        p50 = conn.execute("SELECT avg(p50_mw) FROM load_forecast_values WHERE forecast_id = %s",
                           (issued.id,)).fetchone()
        accuracy = forecast_accuracy(conn, NOW + timedelta(days=3), days=5, substation=code)
        with pytest.raises(RegieError, match="no substation 'SIM-NOPE'"):
            run_network_forecast(conn, provider, NOW, substation="SIM-NOPE")
    assert scopes == {issued.id: f"substation:{code}", network_issued.id: "network"}
    assert 0 < own.mean() < network.mean() / 2  # one of four substations
    assert p50 is not None and abs(float(p50[0]) / own.mean() - 1) < 0.5  # its own scale, not the network's
    assert [a["horizon_from_h"] for a in accuracy] == [1, 25, 49]
    assert all(a["mape"] < 15 for a in accuracy)


def test_file_weather_and_observations(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("time,temperature_c\n2026-02-01T12:00:00+01:00,3.5\n2026-02-01T13:00:00+01:00,4.0\n")
    series = FileProvider(path).fetch(NOW - timedelta(hours=2), NOW + timedelta(hours=2))
    assert series.tolist() == [3.5, 4.0]
    with db.pool.connection() as conn:
        assert import_observations(conn, series, "station") == 2
        assert import_observations(conn, series, "station") == 2
        count = conn.execute("SELECT count(*) FROM weather_observations").fetchone()
    assert count == (2,)
    path.write_text("time,temperature_c\n2026-02-01T12:00:00+01:00,95\n")
    with pytest.raises(WeatherError, match=r"t\.csv:2: temperature 95.0 °C is implausible"):
        FileProvider(path).fetch(NOW - timedelta(hours=2), NOW)
