"""Wires the periodic jobs: operations rollups, retention, alarm evaluation, the daily signature check.

- rollups: ``substation_hourly`` and ``flows_hourly`` (own tables, or TimescaleDB's policies refresh
  the continuous aggregates and our call only forces them), ``energy_hourly`` and ``substation_daily``,
  for the hours written since the last pass (``ingested_hours``, whatever the samples' age: a replayed
  buffer is rolled up when it arrives) and the ranges queued in ``rollup_pending``;
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
from regie_chaleur.operations.rollups import refresh_written
from regie_chaleur.services.field import run_field_pass

log = logging.getLogger(__name__)
PARIS = ZoneInfo("Europe/Paris")
KEEP_INGEST_MARKS = timedelta(days=30)  # marks of written hours already rolled up are kept this long


def run_maintenance_once(pool: ConnectionPool, now: datetime | None = None,
                         notify: Callable[[list[dict[str, Any]]], None] | None = None,
                         weather: Any = None, forecast_every_h: float = 6.0,
                         school_holidays: frozenset[date] = frozenset(), field: dict[str, Any] | None = None,
                         ) -> dict[str, object]:
    """One pass of every job; returns what was done (for logs and tests).

    With a weather ``provider``, a network forecast is issued when the last one is older than
    ``forecast_every_h`` hours (a failure is logged, the other jobs go on), knowing the
    ``school_holidays``. ``field`` holds the field jobs' pager, mailer and escalation delay
    (:func:`regie_chaleur.services.field.run_field_pass`); without a pager nobody is paged.
    """
    now = now or datetime.now(UTC)
    with pool.connection() as conn:
        row = conn.execute("SELECT refreshed_until FROM rollup_state WHERE name = 'signatures'").fetchone()
        last: datetime | None = row[0] if row else None
        nightly = last is None or last.astimezone(PARIS).date() != now.astimezone(PARIS).date()
        refreshed = refresh_written(conn)
        conn.execute("DELETE FROM ingested_hours WHERE written_at < %s", (now - KEEP_INGEST_MARKS,))
        retained = apply_retention(conn, now)
        result = evaluate_alarms(conn, now, notify)
        signature = None
        if nightly:
            signature = evaluate_signature_anomalies(conn, (now.astimezone(PARIS) - timedelta(days=1)).date(),
                                                     now, notify)
            conn.execute("INSERT INTO rollup_state (name, refreshed_until) VALUES ('signatures', %s) ON CONFLICT "
                         "(name) DO UPDATE SET refreshed_until = EXCLUDED.refreshed_until", (now,))
        field_done = run_field_pass(conn, now, **(field or {}))
    issued = None
    if weather is not None:
        issued = _maybe_forecast(pool, now, weather, forecast_every_h, school_holidays)
    return {"forecast_issued": issued, "rollups": [(lo.isoformat(), hi.isoformat()) for lo, hi in refreshed],
            "retention": retained,
            "alarms_raised": len(result.raised),
            "alarms_cleared": len(result.cleared), "alarms_open": result.open,
            "signature_anomalies": len(signature.raised) if signature else 0, "field": field_done}


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
                         school_holidays: frozenset[date] = frozenset(), field: dict[str, Any] | None = None) -> None:
    """Run :func:`run_maintenance_once` every ``every_s`` seconds [s] until ``stop`` is set."""
    while not stop.is_set():
        try:
            done = run_maintenance_once(pool, notify=notify, weather=weather, forecast_every_h=forecast_every_h,
                                        school_holidays=school_holidays, field=field)
            log.info("maintenance: %s", done)
        except psycopg.Error as exc:
            log.warning("maintenance pass failed, retrying in %.0f s: %s", every_s, exc)
        stop.wait(every_s)
