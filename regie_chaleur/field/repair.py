"""Proof of repair: when an order on a substation is done, its daily indicators over the days after are
compared with the days before, weather-corrected (:func:`models.repair.compare_before_after`).

Daily indicators per substation come from ``substation_daily`` (days with 20 hours or more): the
flow-weighted primary ΔT [K] and return temperature [°C], and the energy's relative residual to the
substation's heat signature fitted on the year before the intervention. The days before end when the
work started (the order's start, else its creation); the days after begin the day after it closed.

A proof is judged once ``after_days`` full days have passed; when the data are too thin it tries again
a day later (late readings may still arrive), up to ``give_up_days``, then says « données insuffisantes ».
The verdict and its evidence (the daily series and the lines the days before give) are kept on the order.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import psycopg

from models.errors import ModelError
from models.repair import RepairEvidence, compare_before_after
from models.signature import fit_signature
from regie_chaleur.field.labels import INDICATORS, PROOF

PARIS = ZoneInfo("Europe/Paris")
BEFORE_DAYS = 14
AFTER_DAYS = 7
GIVE_UP_DAYS = 30

DAILY_SQL = """
SELECT dd.day, sum(dd.energy_kwh) AS energy, avg(dd.t_outdoor_avg) AS t_outdoor,
       sum(dd.flow_x_delta) / nullif(sum(dd.flow_for_delta), 0) AS delta_t,
       sum(dd.flow_x_return) / nullif(sum(dd.flow_for_return), 0) AS t_return
FROM substation_daily dd JOIN devices d ON d.id = dd.device_id
WHERE d.substation_id = %s AND dd.day BETWEEN %s AND %s AND dd.hours >= 20
GROUP BY dd.day ORDER BY dd.day
"""


def read_indicators(conn: psycopg.Connection, substation_id: int, first: date, last: date) -> pd.DataFrame:
    """Daily outdoor temperature [°C], energy [kWh], ΔT [K] and return temperature [°C], first..last."""
    rows = conn.execute(DAILY_SQL, (substation_id, first, last)).fetchall()
    frame = pd.DataFrame(rows, columns=["day", "energy", "t_outdoor", "delta_t", "t_return"]).set_index("day")
    return frame.astype(float)


def with_signature_residual(conn: psycopg.Connection, substation_id: int, frame: pd.DataFrame,
                            before_first: date) -> pd.DataFrame:
    """Adds ``signature_residual`` [-]: (energy − expected) / expected, the signature fitted on the year
    before ``before_first``; left out where it cannot be fitted or where little heat is expected."""
    year = read_indicators(conn, substation_id, before_first - timedelta(days=365), before_first - timedelta(days=1))
    year = year.dropna(subset=["energy", "t_outdoor"])
    try:
        sig = fit_signature(year["t_outdoor"], year["energy"])
    except ModelError:
        return frame
    expected = sig.predict(frame["t_outdoor"].to_numpy(float))
    floor = 0.2 * float(sig.predict(0.0))
    out = frame.copy()
    out["signature_residual"] = np.where(expected >= floor, (frame["energy"] - expected) / expected, np.nan)
    return out


def judge_order(conn: psycopg.Connection, order: dict[str, Any], before_days: int = BEFORE_DAYS,
                after_days: int = AFTER_DAYS) -> tuple[RepairEvidence, dict[str, Any]]:
    """The evidence for one closed order on a substation, and the series to draw it."""
    began = (order["started_at"] or order["created_at"]).astimezone(PARIS).date()
    closed = order["finished_at"].astimezone(PARIS).date()
    first = began - timedelta(days=before_days)
    frame = read_indicators(conn, order["substation_id"], first, closed + timedelta(days=after_days))
    frame = with_signature_residual(conn, order["substation_id"], frame, first)
    before = frame[frame.index < began]
    after = frame[frame.index > closed]
    evidence = compare_before_after(before, after)
    series = {"days": [d.isoformat() for d in frame.index],
              **{c: [None if pd.isna(v) else round(float(v), 4) for v in frame[c]]
                 for c in ("t_outdoor", "delta_t", "t_return", "signature_residual") if c in frame}}
    return evidence, {"began": began.isoformat(), "closed": closed.isoformat(), "series": series}


def evaluate_repairs(conn: psycopg.Connection, now: datetime, after_days: int = AFTER_DAYS,
                     give_up_days: int = GIVE_UP_DAYS) -> dict[str, int]:
    """Judge every order closed on a substation whose days after have passed; returns the verdicts' counts."""
    today = now.astimezone(PARIS).date()
    cur = conn.execute("""SELECT id, substation_id, created_at, started_at, finished_at FROM work_orders
                          WHERE proof_status = 'pending' AND finished_at IS NOT NULL
                            AND (proof_at IS NULL OR proof_at < %s) ORDER BY finished_at""",
                       (now - timedelta(days=1),))
    names = [c.name for c in cur.description or []]
    counts: dict[str, int] = {}
    for row in cur.fetchall():
        order = dict(zip(names, row, strict=True))
        closed = order["finished_at"].astimezone(PARIS).date()
        if today <= closed + timedelta(days=after_days):
            continue
        evidence, drawn = judge_order(conn, order, after_days=after_days)
        if evidence.verdict == "insufficient" and today <= closed + timedelta(days=give_up_days):
            conn.execute("UPDATE work_orders SET proof_at = %s WHERE id = %s", (now, order["id"]))  # again tomorrow
            continue
        proof = {**asdict(evidence), **drawn}
        with conn.transaction():
            conn.execute("UPDATE work_orders SET proof_status = %s, proof = %s, proof_at = %s WHERE id = %s",
                         (evidence.verdict, json.dumps(proof), now, order["id"]))
            conn.execute("INSERT INTO work_order_events (work_order_id, at, event, by_whom, comment) VALUES "
                         "(%s, %s, 'proof', 'système', %s)", (order["id"], now, proof_comment(evidence)))
        counts[evidence.verdict] = counts.get(evidence.verdict, 0) + 1
    return counts


def proof_comment(evidence: RepairEvidence) -> str:
    """The verdict in a French sentence with the figures."""
    parts = []
    for ind in evidence.indicators:
        label, unit = INDICATORS[ind.column]
        scale = 100.0 if unit == "%" else 1.0
        word = {"better": "amélioration", "worse": "dégradation", "same": "pas d'écart significatif"}[ind.change]
        parts.append(f"{label} : {word} ({ind.effect * scale:+.1f} {unit} corrigé du climat, "
                     f"± {2 * ind.standard_error * scale:.1f})".replace(".", ","))
    return (f"{PROOF[evidence.verdict]} : {evidence.days_before} jours avant, {evidence.days_after} jours après"
            + (" ; " + " ; ".join(parts) if parts else ""))
