"""Request dependencies shared by the JSON API (`api/`) and the web pages (`web/`), as ``Annotated`` aliases:
the database, the acting principal, a bounded listing offset, dates and instants kept to the calendar
the application serves (2000-2099; a naive instant is read as UTC), so that no input reaches arithmetic
or the database outside it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request
from pydantic import AfterValidator

from regie_chaleur.db.database import Database


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


DbDep = Annotated[Database, Depends(get_db)]


def get_mailer(request: Request) -> Any:
    """The application's mailer (None: letters and notices are to be posted)."""
    return request.app.state.mailer


MailerDep = Annotated[Any, Depends(get_mailer)]
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


FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)


def check_day(value: date) -> date:
    """``value`` if inside the calendar served, else ValueError (French)."""
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(f"date hors de la plage acceptée (du {FIRST_DAY:%d/%m/%Y} au {LAST_DAY:%d/%m/%Y})")
    return value


def check_instant(value: datetime) -> datetime:
    """``value`` made aware (a naive instant is UTC) if inside the calendar served, else ValueError."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    check_day(value.astimezone(UTC).date())
    return value


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant from a query string (``Z`` allowed; naive: UTC); ValueError when unreadable."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"instant illisible : « {text[:32]} » (AAAA-MM-JJTHH:MM attendu)") from exc
    return check_instant(value)


def check_span(first: date, last: date, max_days: int) -> None:
    """422 unless ``first`` ≤ ``last`` and at most ``max_days`` apart."""
    if last < first:
        raise HTTPException(422, "la fin de la période précède son début")
    if (last - first).days > max_days:
        raise HTTPException(422, f"période trop longue : {max_days} jours au plus")


Day = Annotated[date, AfterValidator(check_day)]
Instant = Annotated[datetime, AfterValidator(check_instant)]
