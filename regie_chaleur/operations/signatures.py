"""Signatures, their anomalies and drift, and the subscribed-power audit, per substation.

Daily series per substation come from ``substation_daily``: energy from the meter register, mean
outdoor temperature from the substation's sensor. The audit fits the same piecewise-linear model to
each day's peak hourly power, so the measured peak can be read at the design outdoor temperature:
that weather-corrected peak against the subscribed power is the evidence a Code de l'énergie L.241-10
request needs (a reduction is due when the need is at least 20 % below the subscribed power).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

import pandas as pd
import psycopg

from models.errors import ModelError
from models.signature import Drift, Signature, anomalies, compare_signatures, fit_signature

DAILY_BY_SUBSTATION = """
SELECT dd.day, sum(dd.energy_kwh) AS energy, avg(dd.t_outdoor_avg) AS t_outdoor, max(dd.power_max_kw) AS pmax
FROM substation_daily dd JOIN devices d ON d.id = dd.device_id JOIN substations s ON s.id = d.substation_id
WHERE s.code = %s AND dd.day BETWEEN %s AND %s AND dd.hours >= 20
GROUP BY dd.day ORDER BY dd.day
"""

INCREASE_THRESHOLD = 0.10  # corrected peak above subscribed × 1.10: worth a conversation


def read_daily(conn: psycopg.Connection, code: str, first: date, last: date) -> pd.DataFrame:
    """Daily energy [kWh], mean outdoor temperature [°C] and peak power [kW] of one substation."""
    rows = conn.execute(DAILY_BY_SUBSTATION, (code, first, last)).fetchall()
    frame = pd.DataFrame(rows, columns=["day", "energy", "t_outdoor", "pmax"]).set_index("day")
    return frame.astype(float)


@dataclass(frozen=True)
class SignatureReport:
    code: str
    signature: Signature
    anomalous_days: list[tuple[date, float, float]]  # (day, energy, expected) [kWh]


def substation_signature(conn: psycopg.Connection, code: str, first: date, last: date,
                         recent_from: date | None = None, k: float = 3.0) -> SignatureReport:
    """Fit the signature over first..last and list the anomalous days (from ``recent_from`` on)."""
    daily = read_daily(conn, code, first, last).dropna(subset=["energy", "t_outdoor"])
    sig = fit_signature(daily["t_outdoor"], daily["energy"])
    recent = daily if recent_from is None else daily[daily.index >= recent_from]
    found = anomalies(sig, recent["t_outdoor"], recent["energy"], k=k,
                      min_band_kwh_day=0.05 * max(1.0, float(sig.predict(0.0))))
    return SignatureReport(code, sig, [(d, float(recent.loc[d, "energy"]), float(found.loc[d, "expected"]))
                                       for d in found.index])


def signature_drift(conn: psycopg.Connection, code: str, before: tuple[date, date], after: tuple[date, date],
                    tolerance: float = 0.15) -> tuple[Signature, Signature, Drift]:
    """Signatures of two periods (e.g. two heating seasons) and their drift."""
    a = read_daily(conn, code, *before).dropna(subset=["energy", "t_outdoor"])
    b = read_daily(conn, code, *after).dropna(subset=["energy", "t_outdoor"])
    sa, sb = fit_signature(a["t_outdoor"], a["energy"]), fit_signature(b["t_outdoor"], b["energy"])
    return sa, sb, compare_signatures(sa, sb, tolerance)


@dataclass(frozen=True)
class AuditLine:
    delivery_point: str
    substation: str
    subscribed_kw: float
    measured_peak_kw: float  # highest hourly mean power over the period [kW]
    measured_peak_outdoor_c: float | None  # daily mean outdoor temperature of that day [°C]
    corrected_peak_kw: float  # peak model read at the design outdoor temperature [kW]
    ratio: float  # corrected peak / subscribed
    finding: Literal["sur-souscrit", "sous-souscrit", "conforme", "données insuffisantes"]
    days: int
    fit: str  # the peak model, for the evidence file


def subscribed_power_audit(conn: psycopg.Connection, first: date, last: date, design_outdoor_c: float = -7.0,
                           reduction_threshold: float = 0.20, increase_threshold: float = INCREASE_THRESHOLD,
                           codes: list[str] | None = None) -> list[AuditLine]:
    """Every delivery point with a subscribed power (or only ``codes``): weather-corrected measured peak
    against it.

    Over-subscribed when the corrected peak is at least ``reduction_threshold`` (20 %, D.241-37) below
    the subscribed power; under-subscribed only when it exceeds it by more than ``increase_threshold``
    (10 %): a peak read at −7 °C from a year's days carries the model's uncertainty (several percent), and
    a few percent above the subscribed power is not worth a conversation with the subscriber.
    """
    points = conn.execute(
        """SELECT dp.code, s.code, dp.subscribed_power_kw FROM delivery_points dp
           JOIN substations s ON s.id = dp.substation_id
           WHERE dp.subscribed_power_kw IS NOT NULL AND (%(codes)s::text[] IS NULL OR dp.code = ANY(%(codes)s))
           ORDER BY dp.code""", {"codes": codes}).fetchall()
    out = []
    for dp_code, sub_code, subscribed in points:
        subscribed = float(subscribed)
        daily = read_daily(conn, sub_code, first, last).dropna(subset=["pmax", "t_outdoor"])
        try:
            model = fit_signature(daily["t_outdoor"], daily["pmax"], min_days=20)
        except ModelError:
            out.append(AuditLine(dp_code, sub_code, subscribed, float(daily["pmax"].max()) if len(daily) else 0.0,
                                 None, 0.0, 0.0, "données insuffisantes", len(daily), ""))
            continue
        peak_day = daily["pmax"].idxmax()
        corrected = float(model.predict(design_outdoor_c))
        ratio = corrected / subscribed
        finding: Literal["sur-souscrit", "sous-souscrit", "conforme", "données insuffisantes"] = (
            "sur-souscrit" if ratio <= 1 - reduction_threshold
            else "sous-souscrit" if ratio > 1 + increase_threshold else "conforme")
        out.append(AuditLine(
            dp_code, sub_code, subscribed, float(daily.loc[peak_day, "pmax"]), float(daily.loc[peak_day, "t_outdoor"]),
            round(corrected, 1), round(ratio, 3), finding, model.days,
            f"P = {model.base_kwh_day:.1f} + {model.slope_kwh_day_k:.2f} × max(0, {model.limit_c:.2f} − T) kW, "
            f"σ = {model.sigma_kwh_day:.1f} kW"))
    return out
