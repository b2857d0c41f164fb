"""Application factory: the FastAPI app bound to one :class:`Database`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Literal

import psycopg
from fastapi import FastAPI, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from regie_chaleur import __version__
from regie_chaleur.db.database import Database
from regie_chaleur.deps import DbDep
from regie_chaleur.web.guards import DEFAULT_MAX_BODY_BYTES
from regie_chaleur.web.security import audit_write


class FieldProblem(BaseModel):
    """One invalid field of a refused request."""

    field: str = Field(examples=["siret"])
    message: str = Field(examples=["SIRET invalide (clé de contrôle)"])
    line: int | None = Field(default=None, description="line of an imported file, when there is one")


class ApiError(BaseModel):
    """Every refusal of the API: ``detail`` says what is wrong (a sentence; for a request that does not
    match its parameters' declared types, FastAPI's list of the parameters at fault)."""

    detail: str | list[dict[str, object]] = Field(examples=["facture inconnue : F-2026-000123"])
    errors: list[FieldProblem] | None = Field(default=None, description="each invalid field, when known")


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ApiError, "description": description} for status, description in (
        (400, "request refused (bad value, a NUL byte)"), (401, "no credentials, or unknown/expired ones"),
        (403, "the account's role does not reach this"), (404, "unknown, or not yours"),
        (409, "not possible in the object's current state"), (413, "request body above the configured size"),
        (422, "invalid fields"))}


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


def mount_routes(app: FastAPI) -> None:
    """The JSON API and the pages, each router behind the area it belongs to (authorisation in one
    place: ``regie_chaleur.web.authz``)."""
    from fastapi import Depends
    from fastapi.staticfiles import StaticFiles

    from regie_chaleur.api.billing import router as billing_router
    from regie_chaleur.api.billing_records import router as billing_records_router
    from regie_chaleur.api.field import router as field_router
    from regie_chaleur.api.operations import router as operations_router
    from regie_chaleur.web import (
        views_admin,
        views_alarms,
        views_auth,
        views_billing,
        views_billing_parties,
        views_billing_records,
        views_billing_rules,
        views_field_duty,
        views_instalments,
        views_online_payment,
        views_operations,
        views_payments,
        views_planning,
        views_portal,
        views_portal_field,
        views_portal_invoices,
        views_titres,
        views_work_orders,
    )
    from regie_chaleur.web.authz import require
    from regie_chaleur.web.render import HERE

    app.include_router(operations_router, dependencies=[Depends(require("operations"))], responses=ERROR_RESPONSES)
    app.include_router(field_router, dependencies=[Depends(require("operations"))], responses=ERROR_RESPONSES)
    app.include_router(billing_router, dependencies=[Depends(require("billing"))], responses=ERROR_RESPONSES)
    app.include_router(billing_records_router, dependencies=[Depends(require("billing"))], responses=ERROR_RESPONSES)
    app.include_router(views_portal.api, dependencies=[Depends(require("portal"))], responses=ERROR_RESPONSES)
    app.include_router(views_auth.router)
    app.include_router(views_operations.router, dependencies=[Depends(require("operations"))])
    app.include_router(views_alarms.router, dependencies=[Depends(require("operations"))])
    app.include_router(views_planning.router, dependencies=[Depends(require("operations"))])
    app.include_router(views_work_orders.router, dependencies=[Depends(require("operations"))])
    app.include_router(views_field_duty.router, dependencies=[Depends(require("operations"))])
    app.include_router(views_billing.router, dependencies=[Depends(require("billing"))])
    app.include_router(views_billing_parties.router, dependencies=[Depends(require("billing"))])
    app.include_router(views_billing_records.router, dependencies=[Depends(require("billing"))])
    app.include_router(views_billing_rules.router, dependencies=[Depends(require("billing"))])
    app.include_router(views_titres.router, dependencies=[Depends(require("billing"))])
    app.include_router(views_payments.router, dependencies=[Depends(require("billing"))])
    app.include_router(views_instalments.router, dependencies=[Depends(require("billing"))])
    app.include_router(views_portal.router, dependencies=[Depends(require("portal"))])
    app.include_router(views_portal_invoices.router, dependencies=[Depends(require("portal"))])
    app.include_router(views_portal_field.router, dependencies=[Depends(require("portal"))])
    app.include_router(views_online_payment.router, dependencies=[Depends(require("portal"))])
    app.include_router(views_online_payment.public)
    app.include_router(views_admin.router, dependencies=[Depends(require("admin"))])
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")


def add_middlewares(app: FastAPI, max_body_bytes: int) -> None:
    """Security headers on every answer; every write (and its outcome) in the audit log; no NUL byte and
    no body above ``max_body_bytes`` gets in."""
    from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
    from starlette.requests import Request
    from starlette.responses import Response as StarletteResponse

    from regie_chaleur.web.guards import SECURITY_HEADERS, InputGuard
    async def headers_and_audit(request: Request, call_next: RequestResponseEndpoint) -> StarletteResponse:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith("/static/"):  # pages, data and documents are private: never cached
            response.headers.setdefault("Cache-Control", "no-store")
        if request.url.scheme == "https":  # behind the TLS proxy (a trusted X-Forwarded-Proto): HTTPS only
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.method not in ("GET", "HEAD", "OPTIONS") and request.url.path != "/connexion":
            principal = getattr(request.state, "principal", None)
            audit_write(db_of(request), principal.login if principal else "anonyme", request.method,
                        request.url.path, response.status_code, request.client.host if request.client else None)
        return response

    app.add_middleware(BaseHTTPMiddleware, dispatch=headers_and_audit)
    app.add_middleware(InputGuard, max_body_bytes=max_body_bytes)  # outermost: before anything reads the request


def db_of(request: object) -> Database:
    database: Database = request.app.state.db  # type: ignore[attr-defined]
    return database


def _error_page(request: object, status: int, detail: str) -> Response:
    """The French error page of a refused action (404: the same words whether absent or not yours)."""
    from regie_chaleur.web.render import page

    heading = {404: "Page introuvable", 409: "Action impossible"}.get(status, "Données refusées")
    if status == 404:
        detail = "Cette page n'existe pas, ou elle ne vous est pas accessible."
    shown: Response = page(request, "error.html", status_code=status, title=heading,  # type: ignore[arg-type]
                           heading=heading, detail=detail)
    return shown


def add_error_handlers(app: FastAPI) -> None:
    """Billing errors as HTTP answers: 422 with every invalid field, 404, 409, 400."""
    from fastapi import Request
    from fastapi.exception_handlers import request_validation_exception_handler
    from fastapi.exceptions import HTTPException as FastAPIHTTPException
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, RedirectResponse
    from starlette.concurrency import run_in_threadpool

    from billing.errors import BillingError, NotFoundError, StateError, ValidationError
    from regie_chaleur.field.errors import FieldOperationError
    from regie_chaleur.web.authz import LoginRequiredError, login_url

    @app.exception_handler(LoginRequiredError)
    async def login_required(request: Request, exc: LoginRequiredError) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": exc.detail}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return RedirectResponse(login_url(exc.next_path), status_code=303)

    @app.exception_handler(FastAPIHTTPException)
    async def http_error(request: Request, exc: FastAPIHTTPException) -> Response:
        if request.url.path.startswith("/api/") or request.url.path == "/health":
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        from regie_chaleur.web.render import page

        heading = {403: "Accès refusé", 404: "Page introuvable"}.get(exc.status_code, "Erreur")
        detail = (exc.detail if exc.status_code != 404
                  else "Cette page n'existe pas, ou elle ne vous est pas accessible.")
        response: HTMLResponse = page(request, "error.html", status_code=exc.status_code, title=heading,
                                      heading=heading, detail=detail)
        return response

    @app.exception_handler(FieldOperationError)
    async def field_error(request: Request, exc: FieldOperationError) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=exc.status)
        return await run_in_threadpool(_error_page, request, exc.status, str(exc))

    @app.exception_handler(BillingError)
    async def billing_error(request: Request, exc: BillingError) -> Response:
        status = (422 if isinstance(exc, ValidationError) else 404 if isinstance(exc, NotFoundError)
                  else 409 if isinstance(exc, StateError) else 400)
        if not request.url.path.startswith("/api/"):  # a page: the French error page
            return _error_page(request, status, str(exc))
        if isinstance(exc, ValidationError):
            return JSONResponse({"detail": str(exc), "errors": [
                {"field": e.field, "message": e.message, "line": e.line} for e in exc.errors]}, status_code=422)
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        """Parameters the route refuses: JSON details for the API (FastAPI's), a French page for the rest."""
        if request.url.path.startswith("/api/"):
            return await request_validation_exception_handler(request, exc)
        from regie_chaleur.web.render import page

        fields = ", ".join(sorted({str(e["loc"][-1]) for e in exc.errors() if e.get("loc")}))
        error_page: Response = page(request, "error.html", status_code=422, title="Données refusées",
                                    heading="Données refusées",
                                    detail=f"valeur invalide ou manquante : {fields or 'requête'}")
        return error_page

    @app.exception_handler(psycopg.errors.DataError)
    async def data_error(request: Request, exc: psycopg.errors.DataError) -> Response:
        """A value the database cannot hold (out of range, a date beyond its calendar): the input's fault."""
        detail = "valeur hors des limites acceptées (nombre trop grand, date hors calendrier)"
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": detail}, status_code=422)
        from regie_chaleur.web.render import page

        error_page: Response = page(request, "error.html", status_code=422, title="Données refusées",
                                    heading="Données refusées", detail=detail)
        return error_page

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        """The last resort: logged with its traceback; the answer says nothing of it, with the headers."""
        import logging

        from regie_chaleur.web.guards import SECURITY_HEADERS

        logging.getLogger("regie_chaleur.api").error("%s %s failed", request.method, request.url.path,
                                                     exc_info=exc)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            import anyio.to_thread

            principal = getattr(request.state, "principal", None)
            await anyio.to_thread.run_sync(audit_write, db_of(request), principal.login if principal else "anonyme",
                                           request.method, request.url.path, 500,
                                           request.client.host if request.client else None)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "erreur interne"}, status_code=500, headers=SECURITY_HEADERS)
        return HTMLResponse("<!DOCTYPE html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>Erreur</title>"
                            "</head><body><h1>Erreur interne</h1><p>L'incident est consigné ; réessayez plus tard."
                            "</p></body></html>", status_code=500, headers=SECURITY_HEADERS)


def create_app(db: Database, *, on_shutdown: Callable[[], None] | None = None,
               request_threads: int | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               mailer: Callable[..., None] | None = None, escalate_after_min: float = 15.0) -> FastAPI:
    """Build the app around an open database; ``on_shutdown`` runs when the server stops; ``mailer``
    e-mails letters to subscribers (none: letters are to be posted); ``escalate_after_min`` [min] is the
    on-call escalation delay the scheduler applies (shown on the rota page).

    ``request_threads``: how many requests the process handles at once (the threads that run the
    handlers, which all read the database synchronously); None keeps the server's default (40).
    Measured on a loaded 2-core machine, several threads in one process hand Python's GIL to each other
    so unfairly that a request ready to go on waits for seconds behind the others; one thread per
    process, and as many processes as the machine takes, keeps every request's wait in line with the
    queue (see ``bench/web``).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if request_threads is not None:
            import anyio.to_thread

            anyio.to_thread.current_default_thread_limiter().total_tokens = request_threads
        yield
        if on_shutdown is not None:
            on_shutdown()

    app = FastAPI(
        title="regie-chaleur",
        version=__version__,
        description="District heating network: telemetry, operations, forecasting, planning and billing. "
        "Units: temperatures °C, flow m³/h, power kW, energy kWh (meters) and MWh (billing, plants).",
        lifespan=lifespan,
        docs_url=None,  # served from the vendored Swagger UI below: no CDN
        openapi_url="/api/v1/openapi.json",
    )
    app.state.db = db
    app.state.mailer = mailer
    app.state.escalate_after_min = escalate_after_min
    mount_routes(app)
    add_error_handlers(app)
    add_middlewares(app, max_body_bytes)

    @app.get("/api/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(
            '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>API regie-chaleur</title>'
            '<link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css"></head><body>'
            '<div id="swagger-ui"></div><script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>'
            '<script src="/static/swagger-init.js"></script></body></html>')

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
