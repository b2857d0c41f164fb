"""Outdoor temperature: history (network sensors or imported files) and forecasts through providers.

Providers return hourly temperatures [°C] indexed by UTC time. Two are shipped: a CSV file
(``time,temperature_c``) and an HTTP client for the Open-Meteo forecast API format
(``/v1/forecast?latitude=..&longitude=..&hourly=temperature_2m&timezone=UTC``), which a utility can
point at the public service or at its own mirror.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import httpx
import pandas as pd
import psycopg

from regie_chaleur.errors import RegieError


class WeatherError(RegieError):
    """A weather source failed or returned something unusable (named in the message)."""


#: Standard deviation [K] of a weather forecast's 2-m temperature error over the first days (forecasts
#: miss by 1.5-2.1 K in mean absolute terms over 0-72 h; see the forecasting reference).
DEFAULT_FORECAST_ERROR_K = 1.5


class ForecastProvider(Protocol):
    name: str
    error_k: float  # standard deviation of its temperature error [K]; widens the load forecast's band

    def fetch(self, start: datetime, end: datetime) -> pd.Series:
        """Hourly temperatures [°C] over [start, end), UTC index."""
        ...


def parse_temperature_csv(text: str, source: str) -> pd.Series:
    """``time,temperature_c`` rows (ISO 8601 with offset) to a UTC-indexed series; errors name the line."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not {"time", "temperature_c"} <= set(reader.fieldnames):
        raise WeatherError(f"{source}: the header must have the columns time,temperature_c")
    stamps, values = [], []
    for row in reader:
        try:
            ts = pd.Timestamp(row["time"])
            if ts.tzinfo is None:
                raise ValueError("no UTC offset")
            value = float(row["temperature_c"])
        except ValueError as exc:
            raise WeatherError(f"{source}:{reader.line_num}: {exc}") from exc
        if not -60 <= value <= 60:
            raise WeatherError(f"{source}:{reader.line_num}: temperature {value} °C is implausible")
        stamps.append(ts.tz_convert("UTC"))
        values.append(value)
    return pd.Series(values, index=pd.DatetimeIndex(stamps), name="temperature").sort_index()


@dataclass
class FileProvider:
    path: Path
    name: str = "file"
    error_k: float = DEFAULT_FORECAST_ERROR_K

    def fetch(self, start: datetime, end: datetime) -> pd.Series:
        try:
            series = parse_temperature_csv(self.path.read_text(encoding="utf-8"), str(self.path))
        except OSError as exc:
            raise WeatherError(f"cannot read {self.path}: {exc.strerror}") from exc
        return series[(series.index >= start) & (series.index < end)]


@dataclass
class OpenMeteoProvider:
    """The Open-Meteo forecast API format (JSON ``hourly.time`` / ``hourly.temperature_2m``)."""

    base_url: str
    latitude: float
    longitude: float
    timeout_s: float = 10.0
    name: str = "open-meteo"
    error_k: float = DEFAULT_FORECAST_ERROR_K

    def fetch(self, start: datetime, end: datetime) -> pd.Series:
        params: dict[str, str | float | int] = {
            "latitude": self.latitude, "longitude": self.longitude, "hourly": "temperature_2m",
            "timezone": "UTC", "forecast_days": 8, "past_days": 1}
        try:
            response = httpx.get(f"{self.base_url.rstrip('/')}/v1/forecast", params=params, timeout=self.timeout_s)
            response.raise_for_status()
            hourly = response.json()["hourly"]
            index = pd.DatetimeIndex(pd.to_datetime(hourly["time"], utc=True))
            series = pd.Series([float("nan") if v is None else float(v) for v in hourly["temperature_2m"]],
                               index=index, name="temperature")
        except httpx.HTTPError as exc:
            raise WeatherError(f"weather forecast service {self.base_url}: {exc}") from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise WeatherError(f"weather forecast service {self.base_url}: unexpected answer ({exc!r})") from exc
        return series[(series.index >= start) & (series.index < end)].dropna()


def import_observations(conn: psycopg.Connection, series: pd.Series, source: str) -> int:
    """Store hourly observed temperatures; re-importing the same rows changes nothing."""
    rows = [(pd.Timestamp(t).to_pydatetime(), source, float(v)) for t, v in series.dropna().items()]
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany("INSERT INTO weather_observations (time, source, temperature) VALUES (%s, %s, %s) "
                        "ON CONFLICT (source, time) DO UPDATE SET temperature = EXCLUDED.temperature", rows)
    return len(rows)
