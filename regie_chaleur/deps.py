"""Request dependencies shared by the JSON API (`api/`) and the web pages (`web/`), as ``Annotated`` aliases:
the database, the acting principal, a bounded listing offset."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request

from regie_chaleur.db.database import Database


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


DbDep = Annotated[Database, Depends(get_db)]
# rows to skip in a listing (bounded: an offset past any table is a mistake, not a query to run)
Offset = Annotated[int, Query(ge=0, le=100_000_000, description="rows to skip")]


def get_actor(request: Request) -> str:
    """Who acts, for the audit trails: the authenticated principal (every route that writes is behind
    ``regie_chaleur.web.authz.require``, which has identified it)."""
    from regie_chaleur.web.authz import identify

    principal = identify(request)
    if principal is None:
        raise HTTPException(401, "authentification requise")
    return principal.login


ActorDep = Annotated[str, Depends(get_actor)]
