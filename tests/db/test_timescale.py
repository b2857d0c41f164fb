"""Time-series tables in both modes: hypertables under TimescaleDB, BRIN tables otherwise;
rollups equal the raw aggregates; retention removes old rows; buckets agree with time_bucket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from regie_chaleur.db.capabilities import detect_capabilities
from regie_chaleur.db.database import Database
from regie_chaleur.db.timescale import (
    RollupSpec,
    apply_retention,
    bucket_sql,
    create_rollup,
    create_time_table,
    refresh_rollup,
    set_retention,
)
from regie_chaleur.errors import TimescaleRequiredError
from tests.conftest import REQUIRE_TIMESCALEDB

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SPEC = RollupSpec(
    name="demo_hourly", source="demo_series", time_column="ts", width="1 hour", group_by=("device_id",),
    aggregates=(("avg_value", "avg(value)"), ("max_value", "max(value)"), ("n", "count(*)")),
)


def _series(db: Database) -> None:
    with db.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        cur.execute("CREATE TABLE demo_series (ts timestamptz NOT NULL, device_id int NOT NULL, value float8)")
        create_time_table(cur, db.caps, "demo_series", "ts", "1 day")
        create_rollup(cur, db.caps, SPEC, {"device_id": "int", "avg_value": "double precision",
                                           "max_value": "double precision", "n": "bigint"})
        cur.execute(
            """INSERT INTO demo_series
               SELECT %s + g * interval '7 minutes', d, (g * 13 + d * 7) %% 97
               FROM generate_series(0, 2000) g, generate_series(1, 3) d""",
            (T0,),
        )


def test_hypertables_are_created_when_timescaledb_is_there(db: Database, timescaledb_available: bool) -> None:
    if not timescaledb_available:
        assert not REQUIRE_TIMESCALEDB
        assert db.caps.mode == "plain"
        return
    _series(db)
    with db.pool.connection() as conn:
        rows = conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables").fetchall()
        chunks = conn.execute("SELECT count(*) FROM show_chunks('demo_series')").fetchone()
    assert ("demo_series",) in rows
    assert chunks is not None and chunks[0] >= 9  # ten days of 7-minute rows in 1-day chunks
    assert db.caps.hypertables


def test_plain_mode_uses_brin_index(plain_db: Database) -> None:
    _series(plain_db)
    with plain_db.pool.connection() as conn:
        index = conn.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'demo_series'").fetchone()
        kind = conn.execute("SELECT kind FROM time_tables WHERE table_name = 'demo_series'").fetchone()
    assert index is not None and "USING brin (ts)" in index[0]
    assert kind == ("plain",)


RAW = """SELECT date_bin('1 hour', ts, '2000-01-03'::timestamptz) AS bucket, device_id, avg(value), max(value),
         count(*) FROM demo_series GROUP BY 1, 2 ORDER BY 1, 2"""


@pytest.mark.parametrize("mode", ["best", "plain"])
def test_rollup_equals_raw_aggregates(mode: str, db: Database, plain_db: Database) -> None:
    target = db if mode == "best" else plain_db
    _series(target)
    with target.pool.connection() as conn:
        refresh_rollup(conn, "demo_hourly", T0 - timedelta(days=1), T0 + timedelta(days=30))
        rolled = conn.execute(
            "SELECT bucket, device_id, avg_value, max_value, n FROM demo_hourly ORDER BY 1, 2").fetchall()
        raw = conn.execute(RAW).fetchall()
    assert len(rolled) == len(raw) > 600
    for a, b in zip(rolled, raw, strict=True):
        assert a[:2] == b[:2] and a[3:] == b[3:]
        assert a[2] == pytest.approx(b[2])


def test_rollup_refresh_picks_up_late_rows(plain_db: Database) -> None:
    _series(plain_db)
    with plain_db.pool.connection() as conn:
        refresh_rollup(conn, "demo_hourly", T0, T0 + timedelta(days=30))
        conn.execute("INSERT INTO demo_series VALUES (%s, 1, 1000)", (T0 + timedelta(minutes=30),))
        refresh_rollup(conn, "demo_hourly", T0 + timedelta(minutes=10), T0 + timedelta(minutes=40))
        row = conn.execute("SELECT max_value, n FROM demo_hourly WHERE device_id = 1 AND bucket = %s", (T0,)).fetchone()
    assert row == (1000.0, 10)


@pytest.mark.parametrize("mode", ["best", "plain"])
def test_retention_removes_old_rows_and_keeps_rollups(mode: str, db: Database, plain_db: Database) -> None:
    target = db if mode == "best" else plain_db
    _series(target)
    now = T0 + timedelta(days=9, hours=12)
    with target.pool.connection() as conn:
        refresh_rollup(conn, "demo_hourly", T0, T0 + timedelta(days=30))
        before = conn.execute("SELECT count(*) FROM demo_hourly").fetchone()
        with conn.transaction(), conn.cursor() as cur:
            kind = set_retention(cur, target.caps, "demo_series", "3 days")
        if kind == "job":
            apply_retention(conn, now)
        else:  # community edition: run the policy's job now
            conn.execute("CALL run_job((SELECT job_id FROM timescaledb_information.jobs "
                         "WHERE proc_name = 'policy_retention' LIMIT 1))")
        oldest = conn.execute("SELECT min(ts) FROM demo_series").fetchone()
        after = conn.execute("SELECT count(*) FROM demo_hourly").fetchone()
    assert oldest is not None and oldest[0] >= now - timedelta(days=4)  # chunks are whole days
    assert after == before


def test_date_bin_buckets_match_time_bucket(db: Database) -> None:
    if not db.caps.hypertables:
        return
    with db.pool.connection() as conn:
        for width in ("1 hour", "15 minutes", "1 day", "7 days"):
            query = psycopg.sql.SQL("SELECT {b} = time_bucket(%s::interval, ts) FROM "
                                    "(SELECT %s::timestamptz + g * interval '37 minutes' AS ts "
                                    "FROM generate_series(0, 500) g) s").format(b=bucket_sql(width, "ts"))
            assert all(r[0] for r in conn.execute(query, (width, T0)))


def test_off_setting_gives_plain_mode(plain_db: Database) -> None:
    with psycopg.connect(plain_db.url, autocommit=True) as conn:
        caps = detect_capabilities(conn, "off")
    assert caps.mode == "plain" and not caps.hypertables and not caps.community


def test_require_fails_clearly_without_the_extension(db_url: str, timescaledb_available: bool) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        if timescaledb_available:
            assert detect_capabilities(conn, "require").hypertables
        else:
            with pytest.raises(TimescaleRequiredError, match="TimescaleDB is required but unusable"):
                detect_capabilities(conn, "require")
