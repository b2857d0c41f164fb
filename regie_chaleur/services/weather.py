"""Wires the outdoor temperature: history (network sensors or imported files), forecasts through
providers, and the degree days of a network over a period (for billing and display).

Providers return hourly temperatures [°C] indexed by UTC time. Two are shipped: a CSV file
(``time,temperature_c``) and an HTTP client for the Open-Meteo forecast API format
(``/v1/forecast?latitude=..&longitude=..&hourly=temperature_2m&timezone=UTC``), which a utility can
point at the public service or at its own mirror.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Protocol

import httpx
import pandas as pd
import psycopg

from billing.inputs import DegreeDays
from billing.model import Period
from billing.money import round_to
from billing.periods import add_months, boundary
from models.degree_days import daily_degree_days
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


# --- degree days of a network (billing's weather-corrected estimates, the portal's charts) -------------

DJU_PLACES = Decimal("0.1")
DJU_CACHE_S = 3600.0  # a past period's degree days do not change; the current one moves slowly
DJU_PREFETCH_MONTHS = 25  # read around a cache miss: 13 months and the same months a year earlier
_dju_cache: dict[tuple[str, str, Period], tuple[float, Decimal | None]] = {}


def degree_days_source(conn: psycopg.Connection, *, cached: bool = False) -> DegreeDays:
    """DJU [K·day] of a network over a period: weather observations first, else the network's outdoor
    sensors; None when fewer than 90 % of the period's days have temperatures.

    ``cached``: for display. A miss reads the daily temperatures of the :data:`DJU_PREFETCH_MONTHS`
    months before and after the period in one pass (a consumption chart asks for 13 months and the same
    months a year earlier; averaging a whole network's sensors reads every one of its devices' days)
    and keeps every month's value an hour in this process. Billing always reads afresh.
    """
    database = str(conn.info.dsn)

    def dju(network: str, period: Period) -> Decimal | None:
        if not cached:
            return _dju(conn, network, period)
        key = (database, network, period)
        kept = _dju_cache.get(key)
        if kept is not None and time.monotonic() - kept[0] < DJU_CACHE_S:
            return kept[1]
        first = add_months(period.start.replace(day=1), -DJU_PREFETCH_MONTHS)
        last = add_months(period.end.replace(day=1), DJU_PREFETCH_MONTHS)
        observed, sensors = _observed_days(conn, first, last), _sensor_days(conn, network, first, last)

        def value(p: Period) -> Decimal | None:
            found = _dju_of(observed, p)
            return found if found is not None else _dju_of(sensors, p)

        now = time.monotonic()
        _dju_cache[key] = (now, value(period))
        month = first
        while month < last:  # the months around it, for the next calls
            whole = Period(month, add_months(month, 1))
            if whole != period:
                _dju_cache[(database, network, whole)] = (now, value(whole))
            month = whole.end
        return _dju_cache[key][1]
    return dju


Days = dict[date, tuple[float, float]]  # day -> (minimum, maximum) outdoor temperature [°C]


def _observed_days(conn: psycopg.Connection, start: date, end: date) -> Days:
    """The weather observations' daily minimum and maximum over [start, end) (Europe/Paris days)."""
    rows = conn.execute(
        """SELECT (time AT TIME ZONE 'Europe/Paris')::date AS day, min(temperature), max(temperature)
           FROM weather_observations WHERE time >= %s AND time < %s GROUP BY 1""",
        (boundary(start), boundary(end))).fetchall()
    return {r[0]: (float(r[1]), float(r[2])) for r in rows}


def _sensor_days(conn: psycopg.Connection, network: str, start: date, end: date) -> Days:
    """The mean of the network's outdoor sensors' daily minimum and maximum over [start, end)."""
    rows = conn.execute(
        """SELECT d.day, avg(d.t_outdoor_min), avg(d.t_outdoor_max) FROM substation_daily d
           JOIN devices dv ON dv.id = d.device_id JOIN substations s ON s.id = dv.substation_id
           WHERE s.network = %s AND d.day >= %s AND d.day < %s AND d.t_outdoor_min IS NOT NULL
           GROUP BY d.day""", (network, start, end)).fetchall()
    return {r[0]: (float(r[1]), float(r[2])) for r in rows}


def _dju(conn: psycopg.Connection, network: str, period: Period) -> Decimal | None:
    """DJU [K·day] of ``network`` over ``period`` (see :func:`degree_days_source`): the sensors are
    read only when the observations fall short."""
    value = _dju_of(_observed_days(conn, period.start, period.end), period)
    return value if value is not None else _dju_of(_sensor_days(conn, network, period.start, period.end), period)


def _dju_of(days: Days, period: Period) -> Decimal | None:
    """DJU [K·day] over ``period`` from ``days`` when they cover 90 % of it, else None."""
    rows = [(day, *t) for day, t in days.items() if period.start <= day < period.end]
    if len(rows) < 0.9 * period.days:
        return None
    frame = pd.DataFrame(rows, columns=["day", "t_min", "t_max"])
    per_day = daily_degree_days(frame["t_min"], frame["t_max"])
    total = float(per_day.sum()) * period.days / len(rows)  # a missing day counts as the mean day
    return round_to(Decimal(repr(total)), DJU_PLACES)
