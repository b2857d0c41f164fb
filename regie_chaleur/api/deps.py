"""Shared route dependencies as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from regie_chaleur.db.database import Database


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


DbDep = Annotated[Database, Depends(get_db)]


def get_actor(request: Request) -> str:
    """Who acts, for the audit trails: the signed-in user once authentication has run, else the API."""
    user = getattr(request.state, "user", None)
    return str(getattr(user, "login", "api"))


ActorDep = Annotated[str, Depends(get_actor)]
