"""Degree days of a network: the display cache (one read around a miss) gives what billing reads afresh,
from the network's sensors, and from the weather observations once they cover a month."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd

from billing.model import Period
from billing.periods import add_months
from regie_chaleur.db.database import Database
from regie_chaleur.operations.rollups import refresh_operations
from regie_chaleur.services.weather import _dju_cache, degree_days_source, import_observations
from tests.operations.support import build_network

START = datetime(2025, 12, 1, tzinfo=UTC) - timedelta(hours=1)  # midnight in Paris
END = datetime(2026, 3, 1, tzinfo=UTC)


def test_cached_degree_days_equal_the_fresh_ones(db: Database) -> None:
    build_network(db, 3, START, END, step=timedelta(hours=1))
    months = [Period(m, add_months(m, 1)) for m in (date(2025, 11, 1), date(2025, 12, 1), date(2026, 1, 1),
                                                    date(2026, 2, 1))]
    with db.pool.connection() as conn:
        refresh_operations(conn, START, END)
        network = conn.execute("SELECT network FROM substations LIMIT 1").fetchone()[0]  # type: ignore[index]
        fresh = degree_days_source(conn)
        _dju_cache.clear()
        cached = degree_days_source(conn, cached=True)
        from_sensors = [fresh(network, p) for p in reversed(months)]
        assert [cached(network, p) for p in reversed(months)] == from_sensors
        assert from_sensors[-1] is None  # November: no data
        assert all(v is not None and v > 0 for v in from_sensors[:-1])
        # January observed at a steady 0 °C: 18 K·day a day, whatever the sensors say
        hours = pd.date_range("2025-12-31 23:00", "2026-01-31 23:00", freq="h", tz="UTC", inclusive="left")
        import_observations(conn, pd.Series(0.0, index=hours), "station")
        _dju_cache.clear()
        january = months[2]
        assert fresh(network, january) == cached(network, january) == 18 * 31
        assert cached(network, months[1]) == from_sensors[2]  # December still from the sensors
