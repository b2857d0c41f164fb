"""Application factory: the FastAPI app bound to one :class:`Database`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Literal

import psycopg
from fastapi import FastAPI, Response
from pydantic import BaseModel, Field

from regie_chaleur import __version__
from regie_chaleur.api.deps import DbDep
from regie_chaleur.db.database import Database


class Health(BaseModel):
    """Liveness of the service and of its database."""

    status: Literal["ok", "degraded"] = Field(description="ok when the database answers")
    database: Literal["reachable", "unreachable"]
    timescaledb_mode: str = Field(
        description="timescaledb-community, timescaledb-apache or plain", examples=["timescaledb-apache"]
    )
    timescaledb_version: str | None = Field(examples=["2.19.3"])
    schema_version: str | None = Field(description="last applied migration", examples=["m0002_registry"])
    version: str = Field(description="regie-chaleur version")


def add_error_handlers(app: FastAPI) -> None:
    """Billing errors as HTTP answers: 422 with every invalid field, 404, 409, 400."""
    from fastapi import Request
    from fastapi.responses import JSONResponse

    from billing.errors import BillingError, NotFoundError, StateError, ValidationError

    @app.exception_handler(BillingError)
    async def billing_error(request: Request, exc: BillingError) -> JSONResponse:
        if isinstance(exc, ValidationError):
            return JSONResponse({"detail": str(exc), "errors": [
                {"field": e.field, "message": e.message, "line": e.line} for e in exc.errors]}, status_code=422)
        status = 404 if isinstance(exc, NotFoundError) else 409 if isinstance(exc, StateError) else 400
        return JSONResponse({"detail": str(exc)}, status_code=status)


def create_app(db: Database, *, on_shutdown: Callable[[], None] | None = None) -> FastAPI:
    """Build the app around an open database; ``on_shutdown`` runs when the server stops."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if on_shutdown is not None:
            on_shutdown()

    app = FastAPI(
        title="regie-chaleur",
        version=__version__,
        description="District heating network: telemetry, operations, forecasting, planning and billing. "
        "Units: temperatures °C, flow m³/h, power kW, energy kWh (meters) and MWh (billing, plants).",
        lifespan=lifespan,
        docs_url="/api/docs",
        openapi_url="/api/v1/openapi.json",
    )
    app.state.db = db
    from regie_chaleur.api.billing import router as billing_router
    from regie_chaleur.api.operations import router as operations_router

    app.include_router(operations_router)
    app.include_router(billing_router)
    add_error_handlers(app)

    @app.get("/health", response_model=Health, tags=["system"],
             responses={503: {"model": Health, "description": "database unreachable"}})
    def health(db: DbDep, response: Response) -> Health:
        """Database reachable, TimescaleDB mode, schema version."""
        schema: str | None = None
        reachable = True
        try:
            with db.pool.connection(timeout=2) as conn:
                row = conn.execute("SELECT max(id) FROM schema_migrations").fetchone()
                schema = row[0] if row else None
        except psycopg.Error:  # includes psycopg_pool.PoolTimeout
            reachable = False
        if not reachable:
            response.status_code = 503
        return Health(
            status="ok" if reachable else "degraded",
            database="reachable" if reachable else "unreachable",
            timescaledb_mode=db.caps.mode, timescaledb_version=db.caps.timescaledb_version,
            schema_version=schema, version=__version__,
        )

    return app
