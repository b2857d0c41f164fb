"""The device inventory as an operator reads it: every Modbus device, what it is (its profile), where it
answers (host, port, unit id), its state and its last answer, from the collector's health records.

States: **désactivé** (not polled), **jamais interrogé** (no poll recorded yet), **pas de réponse**
(no successful poll for the ``comm_lost`` rule's threshold, ``raise_at`` × ``interval_s``),
**réponses intermittentes** (answering, but its last polls failed), **en ligne** otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from regie_chaleur.operations.rules import params_for, read_overrides

STATE_LABELS = {"disabled": "désactivé", "never": "jamais interrogé", "silent": "pas de réponse",
                "flaky": "réponses intermittentes", "online": "en ligne"}


@dataclass(frozen=True)
class DeviceRow:
    code: str
    site: str | None  # substation or plant code
    site_kind: str  # "substation" or "plant"
    profile: str
    endpoint: str  # host:port
    unit_id: int
    state: str  # a key of STATE_LABELS
    last_answer: datetime | None  # last successful poll
    last_attempt: datetime | None
    success_rate: float | None  # successes / polls since the collector started
    last_error: str | None
    latency_s: float | None  # mean latency [s]


def device_inventory(conn: psycopg.Connection, now: datetime, search: str | None = None) -> list[DeviceRow]:
    """Every device (or those whose code, site or profile contains ``search``), by site then code."""
    overrides = read_overrides(conn)
    rows = conn.execute(
        """SELECT d.code, coalesce(s.code, p.code), CASE WHEN s.id IS NULL THEN 'plant' ELSE 'substation' END,
                  d.profile, d.host, d.port, d.unit_id, d.enabled, h.last_success, h.last_attempt, h.polls,
                  h.successes, h.consecutive_failures, h.last_error, h.avg_latency_s, s.id
           FROM devices d LEFT JOIN substations s ON s.id = d.substation_id LEFT JOIN plants p ON p.id = d.plant_id
           LEFT JOIN device_health h ON h.device_id = d.id
           WHERE %(q)s::text IS NULL OR d.code ILIKE %(q)s OR s.code ILIKE %(q)s OR p.code ILIKE %(q)s
                 OR d.profile ILIKE %(q)s
           ORDER BY 2, 1""", {"q": f"%{search}%" if search else None}).fetchall()
    out = []
    for (code, site, kind, profile, host, port, unit_id, enabled, success, attempt, polls, successes, failures,
         error, latency, sub_id) in rows:
        p: dict[str, Any] = params_for("comm_lost", overrides, sub_id)
        after = float(p["raise_at"]) * float(p["interval_s"])
        state = ("disabled" if not enabled else "never" if attempt is None
                 else "silent" if success is None or (now - success).total_seconds() > after
                 else "flaky" if failures else "online")
        out.append(DeviceRow(code, site, kind, profile, f"{host}:{port}", int(unit_id), state, success, attempt,
                             successes / polls if polls else None, error, latency))
    return out
