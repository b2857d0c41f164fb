"""The long-running services: ``serve`` (the API and web application) and ``scheduler`` (periodic jobs)."""

from __future__ import annotations

import argparse
import json
import signal
import threading

from regie_chaleur.cli.common import Subparsers
from regie_chaleur.errors import RegieError
from regie_chaleur.settings import Settings


def register(sub: Subparsers) -> None:
    serve = sub.add_parser("serve", help="serve the API and web application")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, help="worker processes (default REGIE_HTTP_WORKERS, 1)")
    serve.set_defaults(handler=cmd_serve)

    sched = sub.add_parser("scheduler", help="run the periodic jobs (rollups, retention)")
    sched.add_argument("--every", type=float, default=300.0, help="seconds between passes")
    sched.add_argument("--once", action="store_true", help="one pass, then exit")
    sched.set_defaults(handler=cmd_scheduler)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    settings.check_secrets()
    from regie_chaleur.db.database import open_database
    from regie_chaleur.server import serve_app

    db = open_database(settings)
    workers = args.workers or settings.http_workers
    host, port = args.host or settings.http_host, args.port or settings.http_port
    if workers > 1:
        import uvicorn

        if db.embedded is not None:
            db.close()
            raise RegieError("several workers need a configured database (REGIE_DATABASE_URL), not the embedded one")
        db.close()  # migrated; each worker opens its own pool
        print(f"regie-chaleur: serving on http://{host}:{port}/ with {workers} workers", flush=True)
        uvicorn.run("regie_chaleur.api.asgi:app", factory=True, host=host, port=port, workers=workers,
                    log_level="warning", proxy_headers=True, forwarded_allow_ips=settings.trusted_proxies)
        return 0
    serve_app(db, host, port, request_threads=settings.http_threads, max_body_bytes=settings.max_body_bytes,
              trusted_proxies=settings.trusted_proxies, mailer=settings.mailer(),
              escalate_after_min=settings.oncall_escalate_after_min)
    return 0


def cmd_scheduler(args: argparse.Namespace, settings: Settings) -> int:
    settings.check_secrets()
    from regie_chaleur.db.database import open_database
    from regie_chaleur.registry.capacities import fill_meter_capacities
    from regie_chaleur.services.maintenance import run_maintenance_loop, run_maintenance_once
    from regie_chaleur.services.telemetry import profiles_for

    db = open_database(settings)
    try:
        with db.pool.connection() as conn:  # meters registered before the capacities were required
            fill_meter_capacities(conn, profiles_for(settings))
        if args.once:
            print(json.dumps(run_maintenance_once(db.pool, notify=settings.notifier(), field=settings.field_jobs()),
                             default=str))
            return 0
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        run_maintenance_loop(db.pool, stop, args.every, settings.notifier(), settings.weather_provider(),
                             settings.forecast_every_h, settings.school_holidays(), settings.field_jobs())
    finally:
        db.close()
    return 0
