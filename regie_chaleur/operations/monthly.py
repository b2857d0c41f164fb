"""Monthly KPIs of a substation or a delivery point: energy, volume, kWh/m³, flow-weighted ΔT and return,
peak power, degree days and weather-normalised energy (definitions: :mod:`regie_chaleur.operations.kpis`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

import pandas as pd
import psycopg

from models.degree_days import daily_degree_days
from regie_chaleur.operations.kpis import DEVICES_OF, FLOW_WEIGHTED, PEAK_OF, as_float
from regie_chaleur.operations.rollups import paris_day_bounds

Scope = Literal["substation", "delivery_point"]


@dataclass(frozen=True)
class MonthlyKpi:
    month: date  # first day of the Europe/Paris month
    energy_kwh: float  # from the meter registers [kWh]
    dju: float  # COSTIC degree days of the month [K·day]
    dju_reference: float  # mean DJU of this calendar month over the history held [K·day]
    normalised_kwh: float  # energy as if the month had the reference weather [kWh]
    volume_m3: float | None = None  # [m³]
    kwh_per_m3: float | None = None  # cooling indicator [kWh/m³]
    delta_t: float | None = None  # flow-weighted primary ΔT [K]
    t_return_fw: float | None = None  # flow-weighted return [°C]
    power_max_kw: float | None = None  # [kW] the month's highest daily peak


def monthly_kpis(conn: psycopg.Connection, code: str, first: date, last: date,
                 scope: Scope = "substation") -> list[MonthlyKpi]:
    """The months whose first day lies in [first, last] of a substation or a delivery point.

    The weather-independent part of the energy (the signature's base load × days) is kept as measured;
    the heating part is scaled by reference DJU / actual DJU, the reference being the mean DJU of the
    same calendar month over all the history the database holds.
    """
    from models.degree_days import weather_normalised
    from models.errors import ModelError
    from models.signature import fit_signature

    days = conn.execute(
        f"""WITH own AS ({DEVICES_OF[scope]}),
                 sub AS (SELECT d.id FROM devices d WHERE d.substation_id IN
                         (SELECT substation_id FROM devices WHERE id IN (SELECT * FROM own))),
                 outdoor AS (SELECT day, min(t_outdoor_min) AS tmin, max(t_outdoor_max) AS tmax,
                                    avg(t_outdoor_avg) AS tavg FROM substation_daily
                             WHERE device_id IN (SELECT * FROM sub) GROUP BY 1)
           SELECT dd.day, sum(dd.energy_kwh), max(o.tmin), max(o.tmax), max(o.tavg)
           FROM substation_daily dd LEFT JOIN outdoor o ON o.day = dd.day
           WHERE dd.device_id IN (SELECT * FROM own) GROUP BY dd.day ORDER BY dd.day""", {"code": code}).fetchall()
    if not days:
        return []
    frame = pd.DataFrame(days, columns=["day", "energy", "tmin", "tmax", "tavg"])
    frame[["energy", "tmin", "tmax", "tavg"]] = frame[["energy", "tmin", "tmax", "tavg"]].astype(float)
    frame["dju"] = daily_degree_days(frame["tmin"], frame["tmax"]).to_numpy()
    frame["month"] = pd.to_datetime(frame["day"]).dt.to_period("M").dt.to_timestamp().dt.date
    usable = frame.dropna(subset=["energy", "tavg"])
    try:
        base = fit_signature(usable["tavg"], usable["energy"]).base_kwh_day
    except ModelError:
        base = 0.0
    monthly = frame.groupby("month").agg(energy=("energy", "sum"), dju=("dju", "sum"), days=("day", "count"))
    monthly["calendar"] = [m.month for m in monthly.index]
    reference = monthly.groupby("calendar")["dju"].mean()
    extra = _month_figures(conn, code, first, last, scope)
    out = []
    for month, r in monthly.iterrows():
        if not first <= month <= last:
            continue
        ref = float(reference[r["calendar"]])
        volume, dt, ret, peak = extra.get(month, (None, None, None, None))
        energy = float(r["energy"])
        out.append(MonthlyKpi(month, energy, float(r["dju"]), ref,
                              weather_normalised(energy, base * float(r["days"]), float(r["dju"]), ref),
                              volume, energy / volume if volume else None, dt, ret, peak))
    return out


def _month_figures(conn: psycopg.Connection, code: str, first: date, last: date, scope: Scope
                   ) -> dict[date, tuple[float | None, float | None, float | None, float | None]]:
    """Per month: volume [m³], flow-weighted ΔT [K] and return [°C] (from the daily sums), peak [kW]."""
    end = (pd.Timestamp(last) + pd.offsets.MonthEnd(0)).date()
    lo, hi = paris_day_bounds(first, end)
    rows = conn.execute(
        f"""WITH own AS ({DEVICES_OF[scope]}), peak AS ({PEAK_OF[scope]}),
                 months AS (SELECT date_trunc('month', dd.day)::date AS month, sum(dd.volume_m3) AS volume,
                                   {FLOW_WEIGHTED}
                            FROM substation_daily dd WHERE dd.device_id IN (SELECT * FROM own)
                              AND dd.day BETWEEN %(first)s AND %(last)s GROUP BY 1)
           SELECT m.month, m.volume, m.delta_t, m.t_return_fw,
                  (SELECT max(p.peak) FROM peak p WHERE date_trunc('month', p.day)::date = m.month)
           FROM months m""", {"code": code, "first": first, "last": end, "lo": lo, "hi": hi}).fetchall()
    return {r[0]: (as_float(r[1]), as_float(r[2]), as_float(r[3]), as_float(r[4])) for r in rows}
