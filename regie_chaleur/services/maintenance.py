"""Wires the periodic jobs: operations rollups, retention, alarm evaluation, the daily signature check.

- rollups: ``substation_hourly`` (own table, or TimescaleDB's policy refreshes the continuous
  aggregate and our call only forces it), ``energy_hourly`` and ``substation_daily``, incrementally
  from the last watermark minus an overlap (late rows up to 3 h old are picked up by every pass; a
  nightly pass re-covers the last two days for replays of longer outages);
- retention: ``drop_chunks`` on Apache-edition hypertables, ``DELETE`` on plain tables (the community
  edition's policies do it themselves);
- alarms: one evaluation pass over the fleet; signature anomalies once a day for the day before.

Run by ``regie-chaleur scheduler`` and by the demo. A failing pass is logged and retried next tick.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg_pool import ConnectionPool

from regie_chaleur.db.timescale import apply_retention
from regie_chaleur.operations.alarms import evaluate_alarms, evaluate_signature_anomalies
from regie_chaleur.operations.rollups import refresh_operations

log = logging.getLogger(__name__)
PARIS = ZoneInfo("Europe/Paris")
OVERLAP = timedelta(hours=3)
NIGHTLY_LOOKBACK = timedelta(days=2)


def run_maintenance_once(pool: ConnectionPool, now: datetime | None = None,
                         notify: Callable[[list[dict[str, Any]]], None] | None = None,
                         weather: Any = None, forecast_every_h: float = 6.0,
                         school_holidays: frozenset[date] = frozenset()) -> dict[str, object]:
    """One pass of every job; returns what was done (for logs and tests).

    With a weather ``provider``, a network forecast is issued when the last one is older than
    ``forecast_every_h`` hours (a failure is logged, the other jobs go on), knowing the
    ``school_holidays``.
    """
    now = now or datetime.now(UTC)
    with pool.connection() as conn:
        row = conn.execute("SELECT refreshed_until FROM rollup_state WHERE name = 'operations'").fetchone()
        last: datetime | None = row[0] if row else None
        nightly = last is None or last.astimezone(PARIS).date() != now.astimezone(PARIS).date()
        start = now - NIGHTLY_LOOKBACK if nightly or last is None else min(last, now) - OVERLAP
        refresh_operations(conn, start, now)
        retained = apply_retention(conn, now)
        result = evaluate_alarms(conn, now, notify)
        signature = None
        if nightly:
            signature = evaluate_signature_anomalies(conn, (now.astimezone(PARIS) - timedelta(days=1)).date(),
                                                     now, notify)
    issued = None
    if weather is not None:
        issued = _maybe_forecast(pool, now, weather, forecast_every_h, school_holidays)
    return {"forecast_issued": issued, "rollups_from": start.isoformat(), "retention": retained,
            "alarms_raised": len(result.raised),
            "alarms_cleared": len(result.cleared), "alarms_open": result.open,
            "signature_anomalies": len(signature.raised) if signature else 0}


def _maybe_forecast(pool: ConnectionPool, now: datetime, weather: Any, every_h: float,
                    school_holidays: frozenset[date]) -> int | None:
    from regie_chaleur.errors import RegieError
    from regie_chaleur.services.forecast import run_network_forecast

    with pool.connection() as conn:
        last = conn.execute("SELECT max(issued_at) FROM load_forecasts WHERE scope = 'network'").fetchone()
        if last and last[0] is not None and now - last[0] < timedelta(hours=every_h):
            return None
        try:
            issued = run_network_forecast(conn, weather, now, school_holidays=school_holidays).id
        except RegieError as exc:
            log.warning("network forecast not issued: %s", exc)
            return None
        try:  # a new forecast: plan again from it
            from regie_chaleur.services.planning import plan_latest, read_system_doc

            plan_latest(conn, read_system_doc(None))
        except RegieError as exc:
            log.warning("production plan not made: %s", exc)
        return issued


def run_maintenance_loop(pool: ConnectionPool, stop: threading.Event, every_s: float = 300.0,
                         notify: Callable[[list[dict[str, Any]]], None] | None = None,
                         weather: Any = None, forecast_every_h: float = 6.0,
                         school_holidays: frozenset[date] = frozenset()) -> None:
    """Run :func:`run_maintenance_once` every ``every_s`` seconds [s] until ``stop`` is set."""
    while not stop.is_set():
        try:
            done = run_maintenance_once(pool, notify=notify, weather=weather, forecast_every_h=forecast_every_h,
                                        school_holidays=school_holidays)
            log.info("maintenance: %s", done)
        except psycopg.Error as exc:
            log.warning("maintenance pass failed, retrying in %.0f s: %s", every_s, exc)
        stop.wait(every_s)
