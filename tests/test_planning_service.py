"""Planning in the application: from the latest forecast, stored, not repeated, plan versus actual."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from regie_chaleur.db.database import Database
from regie_chaleur.errors import RegieError
from regie_chaleur.services.planning import plan_latest, plan_versus_actual, read_system_doc


def store_forecast(db: Database, issued: datetime, base_mw: float) -> int:
    with db.pool.connection() as conn:
        row = conn.execute("INSERT INTO load_forecasts (issued_at, weather_source, model) VALUES (%s, 'test', '{}') "
                           "RETURNING id", (issued,)).fetchone()
        fid = int(row[0])  # type: ignore[index]
        for h in range(168):
            p50 = base_mw + 10 * ((h % 24) in range(6, 22))
            conn.execute("INSERT INTO load_forecast_values VALUES (%s, %s, %s, %s, %s, %s, 5)",
                         (fid, issued + timedelta(hours=h + 1), h + 1, p50 * 0.9, p50, p50 * 1.1))
    return fid


def test_plan_from_the_latest_forecast(db: Database) -> None:
    doc = read_system_doc(None)
    with db.pool.connection() as conn, pytest.raises(RegieError, match="no network forecast"):
        plan_latest(conn, doc)
    now = datetime(2026, 1, 10, 12, tzinfo=UTC)
    first = store_forecast(db, now, 45)
    with db.pool.connection() as conn:
        plan = plan_latest(conn, doc)
        again = plan_latest(conn, doc)
        rows = conn.execute("SELECT count(*), count(DISTINCT plant) FROM plan_production WHERE plan_id = %s",
                            (plan.id,)).fetchone()
        summary = conn.execute("SELECT renewable_share, co2_t, forecast_id FROM production_plans WHERE id = %s",
                               (plan.id,)).fetchone()
    assert plan.id is not None
    assert plan.forecast_id == first
    assert again.id is None  # the same forecast is not planned twice
    assert rows == (168 * 4, 4)
    assert summary is not None
    assert 0.5 < summary[0] <= 1.0
    second = store_forecast(db, now + timedelta(hours=6), 60)
    with db.pool.connection() as conn:
        replanned = plan_latest(conn, doc)
        comparison = plan_versus_actual(conn, int(replanned.id or 0), now + timedelta(days=1))
    assert replanned.forecast_id == second
    assert {c["plant"] for c in comparison} == {"UVE-IVRY", "GEO-CONF", "CHAUF-GAZ-1", "CHAUF-GAZ-2"}
    assert all(c["actual_mwh"] is None for c in comparison)  # no plant meter in this database
