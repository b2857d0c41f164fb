"""KPIs read from the rollups: substation status and indicators, network balance, series.

Units: temperatures °C, ΔT K, power kW, energy kWh (MWh for network totals), volume m³, flow m³/h,
cooling indicator kWh/m³.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

import pandas as pd
import psycopg

from models.degree_days import daily_degree_days
from regie_chaleur.operations.rollups import paris_day_bounds

Resolution = Literal["raw", "hour", "day"]


SERIES_COLUMNS = ("t_supply_primary", "t_return_primary", "t_supply_secondary", "t_return_secondary", "t_outdoor",
                  "flow", "power", "valve_position")


def substation_series(conn: psycopg.Connection, code: str, start: datetime, end: datetime,
                      resolution: Resolution) -> list[dict[str, Any]]:
    """One substation's time series over [start, end) at a resolution (raw samples, hours or days).

    Values are means over the substation's devices of good samples; ``energy_kwh`` (per hour or day)
    comes from the meter register.
    """
    if resolution == "raw":
        cols = ", ".join(f"avg({c}) FILTER (WHERE {c}_q = 0) AS {c}" for c in SERIES_COLUMNS)
        query = f"""SELECT s.time AS t, {cols}, NULL::float8 AS energy_kwh FROM substation_samples s
                    JOIN devices d ON d.id = s.device_id JOIN substations ss ON ss.id = d.substation_id
                    WHERE ss.code = %(code)s AND s.time >= %(start)s AND s.time < %(end)s
                    GROUP BY s.time ORDER BY s.time LIMIT 20000"""
    elif resolution == "hour":
        cols = ", ".join(f"avg(h.{c if c != 'power' else 'power_avg'}) AS {c}" for c in SERIES_COLUMNS)
        query = f"""SELECT h.bucket AS t, {cols}, sum(e.energy_kwh) AS energy_kwh FROM substation_hourly h
                    JOIN devices d ON d.id = h.device_id JOIN substations ss ON ss.id = d.substation_id
                    LEFT JOIN energy_hourly e ON e.device_id = h.device_id AND e.bucket = h.bucket
                    WHERE ss.code = %(code)s AND h.bucket >= %(start)s AND h.bucket < %(end)s
                    GROUP BY h.bucket ORDER BY h.bucket"""
    else:
        query = """SELECT dd.day AS t, avg(dd.t_supply_avg) AS t_supply_primary,
                          avg(dd.t_return_fw) AS t_return_primary,
                          NULL::float8 AS t_supply_secondary, NULL::float8 AS t_return_secondary,
                          avg(dd.t_outdoor_avg) AS t_outdoor, NULL::float8 AS flow, avg(dd.power_avg_kw) AS power,
                          NULL::float8 AS valve_position, sum(dd.energy_kwh) AS energy_kwh
                   FROM substation_daily dd JOIN devices d ON d.id = dd.device_id
                   JOIN substations ss ON ss.id = d.substation_id
                   WHERE ss.code = %(code)s AND dd.day >= (%(start)s AT TIME ZONE 'Europe/Paris')::date
                     AND dd.day < (%(end)s AT TIME ZONE 'Europe/Paris')::date
                   GROUP BY dd.day ORDER BY dd.day"""
    cur = conn.execute(query, {"code": code, "start": start, "end": end})
    names = [c.name for c in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def resolution_for(start: datetime, end: datetime) -> Resolution:
    """The resolution a chart of [start, end) should ask for (a few hundred to a few thousand points)."""
    span = end - start
    if span <= timedelta(days=2):
        return "raw"
    if span <= timedelta(days=62):
        return "hour"
    return "day"


@dataclass(frozen=True)
class DailyKpi:
    day: date
    energy_kwh: float | None
    volume_m3: float | None
    kwh_per_m3: float | None  # cooling indicator [kWh/m³]
    power_max_kw: float | None
    t_return_fw: float | None  # flow-weighted return [°C]
    delta_t: float | None  # [K]
    dju: float | None  # COSTIC degree days, base 18 °C [K·day]


DEVICES_OF = {
    "substation": "SELECT d.id FROM devices d JOIN substations s ON s.id = d.substation_id WHERE s.code = %(code)s",
    "delivery_point": "SELECT m.device_id FROM delivery_points dp JOIN meters m ON m.id = dp.meter_id "
                      "WHERE dp.code = %(code)s",
}


def substation_daily_kpis(conn: psycopg.Connection, code: str, first: date, last: date,
                          scope: Literal["substation", "delivery_point"] = "substation") -> list[DailyKpi]:
    """Per Europe/Paris day, for a substation (all its devices) or a delivery point (its meter): energy,
    volume, kWh/m³, peak power, flow-weighted return, ΔT, DJU (outdoor temperature from the
    substation's sensors in both cases)."""
    rows = conn.execute(
        f"""WITH own AS ({DEVICES_OF[scope]}),
                 sub AS (SELECT d.id FROM devices d WHERE d.substation_id IN
                         (SELECT substation_id FROM devices WHERE id IN (SELECT * FROM own)))
           SELECT dd.day, sum(dd.energy_kwh) FILTER (WHERE dd.device_id IN (SELECT * FROM own)),
                  sum(dd.volume_m3) FILTER (WHERE dd.device_id IN (SELECT * FROM own)),
                  max(dd.power_max_kw) FILTER (WHERE dd.device_id IN (SELECT * FROM own)),
                  avg(dd.t_return_fw) FILTER (WHERE dd.device_id IN (SELECT * FROM own)),
                  avg(dd.t_supply_avg) FILTER (WHERE dd.device_id IN (SELECT * FROM own)),
                  min(dd.t_outdoor_min), max(dd.t_outdoor_max)
           FROM substation_daily dd WHERE dd.device_id IN (SELECT * FROM sub)
             AND dd.day BETWEEN %(first)s AND %(last)s GROUP BY dd.day ORDER BY dd.day""",
        {"code": code, "first": first, "last": last}).fetchall()
    frame = pd.DataFrame(rows, columns=["day", "e", "v", "pmax", "tret", "tsup", "tmin", "tmax"])
    dju = daily_degree_days(frame["tmin"].astype(float), frame["tmax"].astype(float)) if len(frame) else []
    out = []
    for i, r in frame.iterrows():
        ok = pd.notna(r["tmin"]) and pd.notna(r["tmax"])
        out.append(DailyKpi(r["day"], _f(r["e"]), _f(r["v"]),
                            _f(r["e"] / r["v"]) if pd.notna(r["e"]) and pd.notna(r["v"]) and r["v"] else None,
                            _f(r["pmax"]), _f(r["tret"]),
                            _f(r["tsup"] - r["tret"]) if pd.notna(r["tsup"]) and pd.notna(r["tret"]) else None,
                            float(dju.iloc[int(str(i))]) if ok else None))  # type: ignore[union-attr]
    return out


def _f(x: Any) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


@dataclass(frozen=True)
class NetworkBalance:
    first: date
    last: date
    production_mwh: float  # plant meters [MWh]
    deliveries_mwh: float  # delivery-point meters [MWh]
    losses_mwh: float  # production − deliveries [MWh]
    losses_pct: float | None  # losses / production [%]
    return_fw_c: float | None  # flow-weighted network return [°C]
    peak_load_kw: float | None  # highest hourly sum of delivery power [kW]


def network_balance(conn: psycopg.Connection, first: date, last: date, network: str | None = None) -> NetworkBalance:
    """Production versus the sum of deliveries over Europe/Paris days first..last."""
    lo, hi = paris_day_bounds(first, last)
    row = conn.execute(
        """SELECT
             coalesce(sum(e.energy_kwh) FILTER (WHERE d.plant_id IS NOT NULL), 0),
             coalesce(sum(e.energy_kwh) FILTER (WHERE dp.id IS NOT NULL), 0)
           FROM energy_hourly e JOIN devices d ON d.id = e.device_id
           LEFT JOIN meters m ON m.device_id = d.id LEFT JOIN delivery_points dp ON dp.meter_id = m.id
           LEFT JOIN substations s ON s.id = d.substation_id LEFT JOIN plants p ON p.id = d.plant_id
           WHERE e.bucket >= %(lo)s AND e.bucket < %(hi)s
             AND (%(net)s::text IS NULL OR coalesce(s.network, p.network) = %(net)s)""",
        {"lo": lo, "hi": hi, "net": network}).fetchone()
    fw = conn.execute(
        """SELECT sum(h.flow_x_return) / nullif(sum(h.flow_for_return), 0),
                  (SELECT max(total) FROM (SELECT sum(h2.power_avg) AS total FROM substation_hourly h2
                     JOIN devices d2 ON d2.id = h2.device_id JOIN meters m2 ON m2.device_id = d2.id
                     JOIN delivery_points dp2 ON dp2.meter_id = m2.id
                     WHERE h2.bucket >= %(lo)s AND h2.bucket < %(hi)s GROUP BY h2.bucket) peaks)
           FROM substation_hourly h JOIN devices d ON d.id = h.device_id
           WHERE d.substation_id IS NOT NULL AND h.bucket >= %(lo)s AND h.bucket < %(hi)s""",
        {"lo": lo, "hi": hi}).fetchone()
    production, deliveries = (float(x) / 1000 for x in row) if row else (0.0, 0.0)
    losses = production - deliveries
    return NetworkBalance(first, last, production, deliveries, losses,
                          100 * losses / production if production else None,
                          _f(fw[0]) if fw else None, _f(fw[1]) if fw else None)


@dataclass(frozen=True)
class MonthlyKpi:
    month: date  # first day of the Europe/Paris month
    energy_kwh: float  # from the meter register
    dju: float  # COSTIC degree days of the month [K·day]
    dju_reference: float  # mean DJU of this calendar month over the history held [K·day]
    normalised_kwh: float  # energy as if the month had the reference weather [kWh]


def substation_monthly_kpis(conn: psycopg.Connection, code: str, first: date, last: date) -> list[MonthlyKpi]:
    """Monthly energy, degree days and weather-normalised energy of one substation.

    The weather-independent part (the signature's base load × days) is kept as measured; the heating
    part is scaled by reference DJU / actual DJU, the reference being the mean DJU of the same
    calendar month over all the history the database holds.
    """
    from models.degree_days import weather_normalised
    from models.errors import ModelError
    from models.signature import fit_signature

    rows = conn.execute(
        """SELECT dd.day, sum(dd.energy_kwh), min(dd.t_outdoor_min), max(dd.t_outdoor_max), avg(dd.t_outdoor_avg)
           FROM substation_daily dd JOIN devices d ON d.id = dd.device_id JOIN substations s ON s.id = d.substation_id
           WHERE s.code = %s GROUP BY dd.day ORDER BY dd.day""", (code,)).fetchall()
    if not rows:
        return []
    frame = pd.DataFrame(rows, columns=["day", "energy", "tmin", "tmax", "tavg"])
    frame[["energy", "tmin", "tmax", "tavg"]] = frame[["energy", "tmin", "tmax", "tavg"]].astype(float)
    frame["dju"] = daily_degree_days(frame["tmin"], frame["tmax"]).to_numpy()
    frame["month"] = pd.to_datetime(frame["day"]).dt.to_period("M").dt.to_timestamp().dt.date
    try:
        base = fit_signature(frame["tavg"], frame["energy"]).base_kwh_day
    except ModelError:
        base = 0.0
    monthly = frame.groupby("month").agg(energy=("energy", "sum"), dju=("dju", "sum"), days=("day", "count"))
    monthly["calendar"] = [m.month for m in monthly.index]
    reference = monthly.groupby("calendar")["dju"].mean()
    out = []
    for month, r in monthly.iterrows():
        if not first <= month <= last:
            continue
        ref = float(reference[r["calendar"]])
        out.append(MonthlyKpi(month, float(r["energy"]), float(r["dju"]), ref,
                              weather_normalised(float(r["energy"]), base * float(r["days"]), float(r["dju"]), ref)))
    return out
