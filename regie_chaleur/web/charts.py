"""Chart data for the pages, in the format ``static/app.js`` draws (see its header): times as UTC epoch
seconds, values in the unit their series names (MW, kW, kWh, MWh, °C)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from models.signature import fit_signature
from regie_chaleur.operations.kpis import resolution_for, substation_series
from regie_chaleur.operations.signatures import read_daily
from regie_chaleur.services.forecast import read_history

PARIS = ZoneInfo("Europe/Paris")
RESOLUTION_LABELS = {"raw": "mesures brutes", "hour": "moyennes horaires", "day": "moyennes journalières"}
PLANT_COLORS = ["#1e6b35", "#1f5f8b", "#8a5a00", "#8f2a1f", "#5b3a8f", "#3f7f7f", "#7f3f5f", "#4f4f4f"]


def epoch(value: datetime | date) -> int:
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(12), PARIS)  # a day's point sits at its local noon
    return int(value.timestamp())


def _clean(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else round(number, 3)


def load_chart(conn: psycopg.Connection, start: datetime, end: datetime) -> dict[str, Any]:
    """The network load [MW]: measured, the latest forecast's P10/P50/P90 for each hour, the planned production."""
    now = datetime.now(UTC)
    actual: dict[int, float | None] = {}
    if start < now:
        history = read_history(conn, start, min(end, now))
        actual = {epoch(t.to_pydatetime()): _clean(v) for t, v in history["load"].items()}
    forecast = {epoch(r[0]): r[1:] for r in conn.execute(
        """SELECT DISTINCT ON (v.target) v.target, v.p10_mw, v.p50_mw, v.p90_mw FROM load_forecast_values v
           JOIN load_forecasts f ON f.id = v.forecast_id
           WHERE f.scope = 'network' AND v.target >= %s AND v.target < %s
           ORDER BY v.target, f.issued_at DESC""", (start, end))}
    plan = {epoch(r[0]): r[1] for r in conn.execute(
        """SELECT DISTINCT ON (h.target) h.target, (SELECT sum(production_mw) FROM plan_production p
                                                     WHERE p.plan_id = h.plan_id AND p.target = h.target)
           FROM plan_hours h JOIN production_plans pl ON pl.id = h.plan_id
           WHERE h.target >= %s AND h.target < %s ORDER BY h.target, pl.created_at DESC""", (start, end))}
    x = sorted(set(actual) | set(forecast) | set(plan))
    return {"x": x, "series": [
        {"label": "Charge mesurée", "unit": "MW", "color": "#8f2a1f", "width": 2,
         "values": [actual.get(t) for t in x]},
        {"label": "Prévision P90", "unit": "MW", "color": "#9fbcd6", "values": [_clean(forecast[t][2]) if t in forecast
                                                                                 else None for t in x]},
        {"label": "Prévision P50", "unit": "MW", "color": "#1f5f8b", "dash": [6, 4],
         "values": [_clean(forecast[t][1]) if t in forecast else None for t in x]},
        {"label": "Prévision P10", "unit": "MW", "color": "#9fbcd6", "values": [_clean(forecast[t][0]) if t in forecast
                                                                                 else None for t in x]},
        {"label": "Production planifiée", "unit": "MW", "color": "#1e6b35",
         "values": [_clean(plan.get(t)) for t in x]},
    ], "bands": [[1, 3]]}


def substation_chart(conn: psycopg.Connection, code: str, start: datetime, end: datetime) -> dict[str, Any]:
    """One substation's temperatures [°C] and power [kW] at the resolution the range calls for."""
    resolution = resolution_for(start, end)
    rows = substation_series(conn, code, start, end, resolution)
    x = [epoch(r["t"]) for r in rows]

    def values(name: str) -> list[float | None]:
        return [_clean(r[name]) for r in rows]

    return {"x": x, "resolution": RESOLUTION_LABELS[resolution], "series": [
        {"label": "Départ primaire", "unit": "°C", "color": "#8f2a1f", "values": values("t_supply_primary")},
        {"label": "Retour primaire", "unit": "°C", "color": "#1f5f8b", "values": values("t_return_primary")},
        {"label": "Extérieure", "unit": "°C", "color": "#5b5b57", "dash": [4, 3], "values": values("t_outdoor")},
        {"label": "Puissance", "unit": "kW", "color": "#1e6b35", "values": values("power")},
    ]}


def signature_chart(conn: psycopg.Connection, code: str, first: date, last: date) -> dict[str, Any]:
    """Daily energy [kWh] against outdoor temperature [°C] (x: the days' temperatures, ascending), with the
    fitted signature at the same temperatures."""
    daily = read_daily(conn, code, first, last).dropna(subset=["energy", "t_outdoor"]).sort_values("t_outdoor")
    out: dict[str, Any] = {"xLabel": "température extérieure moyenne (°C)", "yLabel": "énergie du jour (kWh)",
                           "x": [round(float(v), 2) for v in daily["t_outdoor"]],
                           "series": [{"label": "Jours", "color": "#8f2a1f",
                                       "values": [round(float(v), 1) for v in daily["energy"]]}]}
    if len(daily) >= 14:
        sig = fit_signature(daily["t_outdoor"], daily["energy"])
        out["series"].append({"label": f"Signature (limite de chauffage {sig.limit_c:.1f} °C)", "color": "#1f5f8b",
                              "line": True,
                              "values": [round(float(v), 1) for v in sig.predict(daily["t_outdoor"].to_numpy())]})
    return out


def latest_plan(conn: psycopg.Connection) -> dict[str, Any] | None:
    row = conn.execute("SELECT id, created_at, start_at, hours, status, gap, cost_eur, co2_t, renewable_share, "
                       "solve_s FROM production_plans ORDER BY created_at DESC, id DESC LIMIT 1").fetchone()
    if row is None:
        return None
    keys = ("id", "created_at", "start_at", "hours", "status", "gap", "cost_eur", "co2_t", "renewable_share", "solve_s")
    return dict(zip(keys, row, strict=True))


def plan_chart(conn: psycopg.Connection, plan_id: int) -> dict[str, Any]:
    """A plan's hours, every flow in MW: production per plant stacked with the must-take plants at the
    bottom (then in the plants file's order), the storage's discharge on top, the demand (P50 forecast
    plus losses) as a line, the forecast's P10-P90 band behind; the storage content [MWh] on its own axis."""
    plan = conn.execute("SELECT forecast_id, system FROM production_plans WHERE id = %s", (plan_id,)).fetchone()
    hours = conn.execute("SELECT target, demand_mw, storage_mwh, discharge_mw FROM plan_hours WHERE plan_id = %s "
                         "ORDER BY target", (plan_id,)).fetchall()
    if plan is None or not hours:
        return {"x": [], "series": []}
    x = [epoch(h[0]) for h in hours]
    index = {h[0]: i for i, h in enumerate(hours)}
    by_plant: dict[str, list[float | None]] = {}
    for target, plant, mw in conn.execute("SELECT target, plant, production_mw FROM plan_production "
                                          "WHERE plan_id = %s ORDER BY plant, target", (plan_id,)):
        by_plant.setdefault(plant, [None] * len(hours))[index[target]] = _clean(mw)
    series: list[dict[str, Any]] = [
        {"label": plant, "unit": "MW", "color": PLANT_COLORS[i % len(PLANT_COLORS)], "stack": True,
         "values": by_plant[plant]} for i, plant in enumerate(_stack_order(plan[1] or {}, list(by_plant)))]
    series.append({"label": "Déstockage du ballon", "unit": "MW", "color": "#7f3f5f", "stack": True,
                   "values": [_clean(h[3]) for h in hours]})
    series.append({"label": "Demande (prévision P50 + pertes)", "unit": "MW", "color": "#1d1d1b", "dash": [5, 3],
                   "width": 2, "values": [_clean(h[1]) for h in hours]})
    series.append({"label": "Contenu du ballon", "unit": "MWh", "axis": "MWh", "color": "#7f3f5f", "dash": [2, 2],
                   "values": [_clean(h[2]) for h in hours]})
    band = _forecast_band(conn, plan[0], hours)
    out: dict[str, Any] = {"x": x, "series": series}
    if band is not None:
        low, high = band
        series.append({"label": "Demande P90", "unit": "MW", "color": "#9fbcd6", "values": high})
        series.append({"label": "Demande P10", "unit": "MW", "color": "#9fbcd6", "values": low})
        out["bands"] = [[len(series) - 2, len(series) - 1]]
    return out


def _stack_order(system: dict[str, Any], plants: list[str]) -> list[str]:
    """Must-take plants first (the base of the stack), then the plants file's order, then any other."""
    doc = [p for p in system.get("plants", []) or [] if isinstance(p, dict)]
    named = [str(p.get("name")) for p in sorted(doc, key=lambda p: p.get("must_take_mw") is None)]
    return [p for p in named if p in plants] + [p for p in plants if p not in named]


def _forecast_band(conn: psycopg.Connection, forecast_id: int | None, hours: list[Any]
                   ) -> tuple[list[float | None], list[float | None]] | None:
    """P10 and P90 of the plan's forecast scaled like its demand (losses included) [MW]."""
    if forecast_id is None:
        return None
    values = {r[0]: r[1:] for r in conn.execute("SELECT target, p10_mw, p50_mw, p90_mw FROM load_forecast_values "
                                                "WHERE forecast_id = %s", (forecast_id,))}
    low: list[float | None] = []
    high: list[float | None] = []
    for target, demand, *_ in hours:
        p10, p50, p90 = values.get(target, (None, None, None))
        scale = demand / p50 if p50 else None
        low.append(_clean(p10 * scale) if p10 is not None and scale is not None else None)
        high.append(_clean(p90 * scale) if p90 is not None and scale is not None else None)
    return (low, high) if any(v is not None for v in low) else None


def parse_range(start: str | None, end: str | None, default_days: float) -> tuple[datetime, datetime]:
    """A [start, end) range from ISO strings (default: the last ``default_days`` days), clamped to 400 days."""
    from regie_chaleur.deps import parse_instant

    stop = parse_instant(end) if end else datetime.now(UTC)
    begin = parse_instant(start) if start else stop - timedelta(days=default_days)
    if stop <= begin:
        raise ValueError("période invalide : la fin doit suivre le début")
    return max(begin, stop - timedelta(days=400)), stop
