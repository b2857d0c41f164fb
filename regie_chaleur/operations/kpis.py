"""KPIs read from the rollups: substation and delivery-point indicators per hour, day and month, the
network balance.

Definitions, as an engineer signs them:

- **ΔT** is the flow-weighted primary ΔT: Σ q·(Ts − Tr) / Σ q over the samples whose flow, supply and
  return are all good (so energy ÷ volume ÷ 1.163 kWh/(m³·K) gives the same figure, up to the
  sampling); the **return temperature** is flow-weighted too, Σ q·Tr / Σ q, in every series and KPI.
- A **substation with several meters** is combined on the sums of its flows and powers: its
  flow-weighted temperatures and ΔT weigh each meter by its flow, its energy and volume add up, and
  its **peak power** is the highest hourly mean of the summed power (the peak of the sum, not the
  larger single peak: meters are read at different instants, so the hour is the common base).
- A **delivery point** is its one meter; its peak power is the highest power the meter read.

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
from regie_chaleur.operations.rollups import ALL_GOOD, paris_day_bounds

Resolution = Literal["raw", "hour", "day"]


SERIES_COLUMNS = ("t_supply_primary", "t_return_primary", "t_supply_secondary", "t_return_secondary", "t_outdoor",
                  "flow", "power", "valve_position")

#: hourly and daily values of a substation, combined over its devices: primary temperatures and ΔT are
#: flow-weighted over its meters (their means where no flow is read), flow and power are summed
_COMBINED = {
    "t_supply_primary": "coalesce(sum({f}.flow_x_supply) / nullif(sum({f}.flow_for_supply), 0), {avg_sup})",
    "t_return_primary": "coalesce(sum({h}.flow_x_return) / nullif(sum({h}.flow_for_return), 0), {avg_ret})",
    "delta_t": "sum({f}.flow_x_delta) / nullif(sum({f}.flow_for_delta), 0)",
}


def substation_series(conn: psycopg.Connection, code: str, start: datetime, end: datetime,
                      resolution: Resolution) -> list[dict[str, Any]]:
    """One substation's time series over [start, end) at a resolution (raw samples, hours or days).

    Hours and days combine the substation's devices: primary supply and return temperatures [°C] and
    ΔT [K] are flow-weighted (Σ q·T / Σ q, the ΔT over the samples with flow, supply and return good),
    flow [m³/h] and power [kW] are summed over the meters, the other temperatures averaged;
    ``energy_kwh`` comes from the meter registers. Raw samples are each device's own readings.
    """
    if resolution == "raw":
        cols = ", ".join(f"avg({c}) FILTER (WHERE {c}_q = 0) AS {c}" for c in SERIES_COLUMNS)
        query = f"""SELECT s.time AS t, {cols},
                           avg(t_supply_primary - t_return_primary) FILTER (WHERE {ALL_GOOD}) AS delta_t,
                           NULL::float8 AS energy_kwh FROM substation_samples s
                    JOIN devices d ON d.id = s.device_id JOIN substations ss ON ss.id = d.substation_id
                    WHERE ss.code = %(code)s AND s.time >= %(start)s AND s.time < %(end)s
                    GROUP BY s.time ORDER BY s.time LIMIT 20000"""
    elif resolution == "hour":  # each rollup summed per hour on its own (three range scans), then joined
        query = """WITH dev AS MATERIALIZED (
                        SELECT d.id FROM devices d JOIN substations ss ON ss.id = d.substation_id
                        WHERE ss.code = %(code)s
                    ), hh AS (
                        SELECT bucket, sum(flow_x_return) AS flow_x_return, sum(flow_for_return) AS flow_for_return,
                               avg(t_supply_primary) AS avg_sup, avg(t_return_primary) AS avg_ret,
                               avg(t_supply_secondary) AS t_supply_secondary,
                               avg(t_return_secondary) AS t_return_secondary, avg(t_outdoor) AS t_outdoor,
                               sum(flow) AS flow, sum(power_avg) AS power, avg(valve_position) AS valve_position
                        FROM substation_hourly WHERE device_id IN (SELECT id FROM dev)
                          AND bucket >= %(start)s AND bucket < %(end)s GROUP BY bucket
                    ), ff AS (
                        SELECT bucket, sum(flow_x_supply) AS flow_x_supply, sum(flow_for_supply) AS flow_for_supply,
                               sum(flow_x_delta) AS flow_x_delta, sum(flow_for_delta) AS flow_for_delta
                        FROM flows_hourly WHERE device_id IN (SELECT id FROM dev)
                          AND bucket >= %(start)s AND bucket < %(end)s GROUP BY bucket
                    ), ee AS (
                        SELECT bucket, sum(energy_kwh) AS energy_kwh FROM energy_hourly
                        WHERE device_id IN (SELECT id FROM dev) AND bucket >= %(start)s AND bucket < %(end)s
                        GROUP BY bucket
                    )
                    SELECT hh.bucket AS t,
                           coalesce(ff.flow_x_supply / nullif(ff.flow_for_supply, 0), hh.avg_sup) AS t_supply_primary,
                           coalesce(hh.flow_x_return / nullif(hh.flow_for_return, 0), hh.avg_ret) AS t_return_primary,
                           hh.t_supply_secondary, hh.t_return_secondary, hh.t_outdoor, hh.flow, hh.power,
                           hh.valve_position, ff.flow_x_delta / nullif(ff.flow_for_delta, 0) AS delta_t, ee.energy_kwh
                    FROM hh LEFT JOIN ff ON ff.bucket = hh.bucket LEFT JOIN ee ON ee.bucket = hh.bucket
                    ORDER BY hh.bucket"""
    else:
        combined = {k: v.format(f="dd", h="dd", avg_sup="avg(dd.t_supply_avg)", avg_ret="avg(dd.t_return_fw)")
                    for k, v in _COMBINED.items()}
        query = f"""SELECT dd.day AS t, {combined['t_supply_primary']} AS t_supply_primary,
                          {combined['t_return_primary']} AS t_return_primary,
                          NULL::float8 AS t_supply_secondary, NULL::float8 AS t_return_secondary,
                          avg(dd.t_outdoor_avg) AS t_outdoor, NULL::float8 AS flow, sum(dd.power_avg_kw) AS power,
                          NULL::float8 AS valve_position, {combined['delta_t']} AS delta_t,
                          sum(dd.energy_kwh) AS energy_kwh
                   FROM substation_daily dd JOIN devices d ON d.id = dd.device_id
                   JOIN substations ss ON ss.id = d.substation_id
                   WHERE ss.code = %(code)s AND dd.day >= (%(start)s AT TIME ZONE 'Europe/Paris')::date
                     AND dd.day < (%(end)s AT TIME ZONE 'Europe/Paris')::date
                   GROUP BY dd.day ORDER BY dd.day"""
    cur = conn.cursor(binary=True).execute(query, {"code": code, "start": start, "end": end})  # no text formatting
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
    power_max_kw: float | None  # [kW] peak: of the summed hourly power (substation), as read (delivery point)
    t_return_fw: float | None  # flow-weighted return [°C]
    delta_t: float | None  # flow-weighted primary ΔT [K]
    dju: float | None  # COSTIC degree days, base 18 °C [K·day]
    t_supply_fw: float | None = None  # flow-weighted supply [°C]


DEVICES_OF = {
    "substation": "SELECT d.id FROM devices d JOIN substations s ON s.id = d.substation_id WHERE s.code = %(code)s",
    "delivery_point": "SELECT m.device_id FROM delivery_points dp JOIN meters m ON m.id = dp.meter_id "
                      "WHERE dp.code = %(code)s",
}
#: the peak power of a scope per Europe/Paris day: the highest hourly mean of its summed power
#: (substation), or the highest power its meter read (delivery point)
PEAK_OF = {
    "substation": """SELECT (h.bucket AT TIME ZONE 'Europe/Paris')::date AS day, max(h.total) AS peak FROM (
                         SELECT bucket, sum(power_avg) AS total FROM substation_hourly
                         WHERE device_id IN (SELECT * FROM own) AND bucket >= %(lo)s AND bucket < %(hi)s
                         GROUP BY bucket) h GROUP BY 1""",
    "delivery_point": """SELECT day, max(power_max_kw) AS peak FROM substation_daily
                         WHERE device_id IN (SELECT * FROM own) AND day BETWEEN %(first)s AND %(last)s GROUP BY 1""",
}
#: the flow-weighted values of a set of daily rows, from their sums (the stored mean where no sum exists)
FLOW_WEIGHTED = """
    coalesce(sum(dd.flow_x_return) / nullif(sum(dd.flow_for_return), 0), avg(dd.t_return_fw)) AS t_return_fw,
    sum(dd.flow_x_supply) / nullif(sum(dd.flow_for_supply), 0) AS t_supply_fw,
    sum(dd.flow_x_delta) / nullif(sum(dd.flow_for_delta), 0) AS delta_t"""


def substation_daily_kpis(conn: psycopg.Connection, code: str, first: date, last: date,
                          scope: Literal["substation", "delivery_point"] = "substation") -> list[DailyKpi]:
    """Per Europe/Paris day, for a substation (all its devices) or a delivery point (its meter): energy,
    volume, kWh/m³, peak power, flow-weighted return and supply, flow-weighted ΔT, DJU (outdoor
    temperature from the substation's sensors in both cases). See the module's definitions."""
    lo, hi = paris_day_bounds(first, last)
    rows = conn.execute(
        f"""WITH own AS ({DEVICES_OF[scope]}),
                 sub AS (SELECT d.id FROM devices d WHERE d.substation_id IN
                         (SELECT substation_id FROM devices WHERE id IN (SELECT * FROM own))),
                 peak AS ({PEAK_OF[scope]}),
                 outdoor AS (SELECT day, min(t_outdoor_min) AS tmin, max(t_outdoor_max) AS tmax FROM substation_daily
                             WHERE device_id IN (SELECT * FROM sub) AND day BETWEEN %(first)s AND %(last)s GROUP BY 1)
           SELECT dd.day, sum(dd.energy_kwh), sum(dd.volume_m3), max(peak.peak), {FLOW_WEIGHTED},
                  max(o.tmin), max(o.tmax)
           FROM substation_daily dd LEFT JOIN peak ON peak.day = dd.day LEFT JOIN outdoor o ON o.day = dd.day
           WHERE dd.device_id IN (SELECT * FROM own) AND dd.day BETWEEN %(first)s AND %(last)s
           GROUP BY dd.day ORDER BY dd.day""",
        {"code": code, "first": first, "last": last, "lo": lo, "hi": hi}).fetchall()
    frame = pd.DataFrame(rows, columns=["day", "e", "v", "pmax", "tret", "tsup", "dt", "tmin", "tmax"])
    dju = daily_degree_days(frame["tmin"].astype(float), frame["tmax"].astype(float)) if len(frame) else []
    out = []
    for i, r in frame.iterrows():
        ok = pd.notna(r["tmin"]) and pd.notna(r["tmax"])
        out.append(DailyKpi(r["day"], as_float(r["e"]), as_float(r["v"]),
                            as_float(r["e"] / r["v"]) if pd.notna(r["e"]) and pd.notna(r["v"]) and r["v"] else None,
                            as_float(r["pmax"]), as_float(r["tret"]), as_float(r["dt"]),
                            float(dju.iloc[int(str(i))]) if ok else None,  # type: ignore[union-attr]
                            as_float(r["tsup"])))
    return out


def as_float(x: Any) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


@dataclass(frozen=True)
class NetworkBalance:
    first: date
    last: date
    production_mwh: float  # plant meters [MWh]
    deliveries_mwh: float  # delivery-point meters [MWh]
    losses_mwh: float  # production − deliveries [MWh]
    losses_pct: float | None  # losses / production [%]
    return_fw_c: float | None  # flow-weighted return of the network's substations [°C]
    peak_load_kw: float | None  # highest hourly sum of the network's delivery power [kW]


def network_balance(conn: psycopg.Connection, first: date, last: date, network: str | None = None) -> NetworkBalance:
    """Production versus the sum of deliveries over Europe/Paris days first..last, of one network or all."""
    lo, hi = paris_day_bounds(first, last)
    params = {"first": first, "last": last, "lo": lo, "hi": hi, "net": network}
    # energies and the flow-weighted return from the daily rollup (a row per device and day), the peak
    # from the hourly one for the delivery points' devices only
    row = conn.execute(
        """SELECT
             coalesce(sum(dd.energy_kwh) FILTER (WHERE d.plant_id IS NOT NULL), 0),
             coalesce(sum(dd.energy_kwh) FILTER (WHERE dp.id IS NOT NULL), 0),
             sum(dd.flow_x_return) FILTER (WHERE d.substation_id IS NOT NULL)
               / nullif(sum(dd.flow_for_return) FILTER (WHERE d.substation_id IS NOT NULL), 0)
           FROM substation_daily dd JOIN devices d ON d.id = dd.device_id
           LEFT JOIN meters m ON m.device_id = d.id LEFT JOIN delivery_points dp ON dp.meter_id = m.id
           LEFT JOIN substations s ON s.id = d.substation_id LEFT JOIN plants p ON p.id = d.plant_id
           WHERE dd.day >= %(first)s AND dd.day <= %(last)s
             AND (%(net)s::text IS NULL OR coalesce(s.network, p.network) = %(net)s)""", params).fetchone()
    peak = conn.execute(
        """SELECT max(total) FROM (SELECT sum(h.power_avg) AS total FROM substation_hourly h
             WHERE h.bucket >= %(lo)s AND h.bucket < %(hi)s AND h.device_id = ANY(ARRAY(
               SELECT m.device_id FROM delivery_points dp JOIN meters m ON m.id = dp.meter_id
               JOIN substations s ON s.id = dp.substation_id
               WHERE m.device_id IS NOT NULL AND (%(net)s::text IS NULL OR s.network = %(net)s)))
             GROUP BY h.bucket) peaks""", params).fetchone()
    production, deliveries = (float(row[0]) / 1000, float(row[1]) / 1000) if row else (0.0, 0.0)
    losses = production - deliveries
    return NetworkBalance(first, last, production, deliveries, losses,
                          100 * losses / production if production else None,
                          as_float(row[2]) if row else None, as_float(peak[0]) if peak else None)
