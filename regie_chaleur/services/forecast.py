"""Wires the load forecast: history from the database, weather from a provider, the SciPy model from
``models``, forecasts stored with the weather they used, accuracy tracked.

Network load [MW] is the hourly sum of the delivery points' mean power (``substation_hourly``, meters
of delivery points); a substation's load is the same sum over its own delivery points, forecast by
the same code (scope ``substation:CODE``). The outdoor temperature history is the imported
observations when there are any, else the mean of the network's own outdoor sensors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import psycopg

from models.calendar import public_holidays
from models.errors import ModelError
from models.forecast import ForecastConfig, fit, forecast
from regie_chaleur.errors import RegieError
from regie_chaleur.services.weather import ForecastProvider

TZ = "Europe/Paris"

LOAD_SQL = """
SELECT h.bucket, sum(h.power_avg) / 1000.0 AS load_mw, avg(h.t_outdoor) AS sensor_t
FROM substation_hourly h
JOIN meters m ON m.device_id = h.device_id JOIN delivery_points dp ON dp.meter_id = m.id
WHERE h.bucket >= %(lo)s AND h.bucket < %(hi)s
  AND (%(sub)s::text IS NULL OR dp.substation_id = (SELECT id FROM substations WHERE code = %(sub)s))
GROUP BY h.bucket ORDER BY h.bucket
"""
SENSOR_SQL = """SELECT bucket, avg(t_outdoor) FROM substation_hourly
                WHERE bucket >= %(lo)s AND bucket < %(hi)s AND t_outdoor IS NOT NULL GROUP BY 1"""
NETWORK = "network"


def scope_of(substation: str | None) -> str:
    """The stored scope of a forecast: ``network``, or ``substation:CODE``."""
    return NETWORK if substation is None else f"substation:{substation}"


def read_history(conn: psycopg.Connection, start: datetime, end: datetime, substation: str | None = None
                 ) -> pd.DataFrame:
    """Hourly load [MW] of the network (or of one ``substation``'s delivery points) and outdoor
    temperature [°C] over [start, end) (UTC index)."""
    load = pd.DataFrame(conn.execute(LOAD_SQL, {"lo": start, "hi": end, "sub": substation}).fetchall(),
                        columns=["time", "load", "sensor_t"])
    observed = pd.DataFrame(conn.execute(
        "SELECT time, avg(temperature) FROM weather_observations WHERE time >= %(lo)s AND time < %(hi)s "
        "GROUP BY 1", {"lo": start, "hi": end}).fetchall(), columns=["time", "temperature"])
    sensors = pd.DataFrame(conn.execute(SENSOR_SQL, {"lo": start, "hi": end}).fetchall(),
                           columns=["time", "temperature"])
    frame = load.set_index("time")[["load"]].astype(float)
    temps = (observed if len(observed) else sensors).set_index("time")["temperature"].astype(float)
    frame = frame.join(temps, how="outer")
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.index, utc=True))
    return frame


@dataclass(frozen=True)
class IssuedForecast:
    id: int
    issued_at: datetime
    hours: int


def run_network_forecast(conn: psycopg.Connection, provider: ForecastProvider, now: datetime | None = None,
                         horizon_h: int = 168, history_days: int = 400,
                         school_holidays: frozenset[date] = frozenset(), substation: str | None = None
                         ) -> IssuedForecast:
    """Fit on the history, issue the next ``horizon_h`` hours, store values and the weather used
    (public holidays of France; ``school_holidays`` the days without school of the network's zone).
    With ``substation`` (a code), the same for that substation's delivery points.

    Raises:
        RegieError: an unknown substation, too little history, or the weather provider failed (named).
    """
    now = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    what = "network" if substation is None else f"substation {substation}"
    if substation is not None and conn.execute("SELECT 1 FROM substations WHERE code = %s",
                                               (substation,)).fetchone() is None:
        raise RegieError(f"{what} forecast not issued: no substation {substation!r} in the registry")
    history = read_history(conn, now - timedelta(days=history_days), now, substation)
    if history["load"].notna().sum() < 24 * 14:
        raise RegieError(f"{what} forecast not issued: {history['load'].notna().sum()} hours of load "
                         "history, at least 14 days are needed (is the collector running?)")
    weather = provider.fetch(now, now + timedelta(hours=horizon_h))
    if len(weather) < horizon_h // 2:
        raise RegieError(f"weather provider {provider.name}: only {len(weather)} hourly values for the next "
                         f"{horizon_h} h")
    future = pd.DataFrame({"load": np.nan, "temperature": weather.astype(float)})
    frame = pd.concat([history[history.index < now], future]).sort_index()
    frame = frame[~frame.index.duplicated(keep="last")]
    years = range(now.year - 2, now.year + 2)
    config = ForecastConfig(tz=TZ, holidays=frozenset(public_holidays(years, "FR")), school_holidays=school_holidays)
    try:
        model = fit(frame[frame.index < now], config)
        values = forecast(model, frame, pd.Timestamp(now), horizon_h=horizon_h,
                          temperature_error_k=provider.error_k)
    except ModelError as exc:
        raise RegieError(f"{what} forecast not issued: {exc}") from exc
    temps = frame["temperature"].reindex(values.index).interpolate().ffill().bfill()
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO load_forecasts (issued_at, scope, weather_source, model) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (scope, issued_at) DO UPDATE SET weather_source = EXCLUDED.weather_source, "
            "model = EXCLUDED.model RETURNING id",
            (now, scope_of(substation), provider.name,
             json.dumps({"fitted_until": str(model.fitted_until), "history_hours": len(history),
                         "parameters": len(model.coef)}))).fetchone()
        forecast_id = int(row[0])  # type: ignore[index]
        conn.execute("DELETE FROM load_forecast_values WHERE forecast_id = %s", (forecast_id,))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO load_forecast_values (forecast_id, target, horizon_h, p10_mw, p50_mw, p90_mw, "
                "temperature) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [(forecast_id, t.to_pydatetime(), int(r["horizon_h"]), float(r["p10"]), float(r["p50"]),
                  float(r["p90"]), float(temps[t])) for t, r in values.iterrows()])
    return IssuedForecast(forecast_id, now, len(values))


def forecast_accuracy(conn: psycopg.Connection, now: datetime, days: int = 30, substation: str | None = None
                      ) -> list[dict[str, float | int]]:
    """Rolling accuracy of the stored forecasts (of the network, or of one ``substation``) whose
    targets fell in the last ``days``: MAPE [%] and P10-P90 coverage [%] per horizon band (1-24 h,
    25-48 h, ...)."""
    actual = read_history(conn, now - timedelta(days=days), now, substation)["load"].dropna()
    rows = conn.execute(
        """SELECT v.target, v.horizon_h, v.p10_mw, v.p50_mw, v.p90_mw FROM load_forecast_values v
           JOIN load_forecasts f ON f.id = v.forecast_id
           WHERE f.scope = %s AND v.target >= %s AND v.target < %s""",
        (scope_of(substation), now - timedelta(days=days), now)).fetchall()
    frame = pd.DataFrame(rows, columns=["target", "horizon", "p10", "p50", "p90"])
    if frame.empty:
        return []
    frame["actual"] = pd.DatetimeIndex(frame["target"]).tz_convert("UTC").map(actual.to_dict())
    frame = frame.dropna(subset=["actual"])
    frame = frame[frame["actual"] > 0]
    out = []
    for band, part in frame.groupby((frame["horizon"] - 1) // 24):
        ape = (part["p50"] - part["actual"]).abs() / part["actual"]
        inside = (part["actual"] >= part["p10"]) & (part["actual"] <= part["p90"])
        out.append({"horizon_from_h": int(band) * 24 + 1, "horizon_to_h": int(band) * 24 + 24,
                    "mape": round(float(100 * ape.mean()), 2), "coverage_p10_p90": round(float(100 * inside.mean()), 1),
                    "n": len(part)})
    return out
