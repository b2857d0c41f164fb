"""/health and the OpenAPI document, over real HTTP; the database going away and coming back."""

from __future__ import annotations

import httpx
from psycopg_pool import ConnectionPool

from regie_chaleur.api.app import create_app
from regie_chaleur.db.database import Database
from regie_chaleur.db.migrate import discover
from tests.support.http_server import serve
from tests.support.tcp_proxy import TcpProxy


def test_health_reports_database_and_mode(db: Database) -> None:
    with serve(create_app(db)) as base:
        response = httpx.get(f"{base}/health")
        openapi = httpx.get(f"{base}/api/v1/openapi.json")
        docs = httpx.get(f"{base}/api/docs")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "reachable"
    assert body["timescaledb_mode"] == db.caps.mode
    assert body["schema_version"] == discover()[-1].id
    assert "/health" in openapi.json()["paths"]
    assert docs.status_code == 200


def test_health_degrades_when_database_goes_away_and_recovers(db: Database) -> None:
    proxy, url = TcpProxy.for_postgres(db.url)
    pool = ConnectionPool(url, min_size=0, max_size=2, kwargs={"autocommit": True}, open=True, timeout=2)
    through_proxy = Database(url=url, caps=db.caps, pool=pool)
    try:
        with serve(create_app(through_proxy)) as base:
            assert httpx.get(f"{base}/health").status_code == 200
            proxy.stop()
            down = httpx.get(f"{base}/health", timeout=15)
            assert down.status_code == 503
            assert down.json()["database"] == "unreachable"
            proxy.start()
            pool.check()
            assert httpx.get(f"{base}/health", timeout=15).status_code == 200
    finally:
        pool.close()
        proxy.stop()
