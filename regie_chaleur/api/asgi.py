"""The application for an ASGI server with several worker processes (``regie-chaleur serve --workers``):
each worker builds its own app and database pool from the settings (the environment)."""

from __future__ import annotations

from fastapi import FastAPI

from regie_chaleur.api.app import create_app
from regie_chaleur.db.database import open_database
from regie_chaleur.settings import load_settings


def app() -> FastAPI:
    """Factory for ``uvicorn --factory regie_chaleur.api.asgi:app``: no migration here (the parent
    process or ``regie-chaleur db migrate`` did it)."""
    settings = load_settings()
    settings.check_secrets()
    db = open_database(settings, apply_migrations=False)
    return create_app(db, on_shutdown=db.close, request_threads=settings.http_threads,
                      max_body_bytes=settings.max_body_bytes, mailer=settings.mailer())
