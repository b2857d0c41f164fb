"""Authorisation, in one place: who is asking, what their role may reach, and whose data they may see.

- **Who**: an API token (``Authorization: Bearer rc_...``) or the session cookie; nothing else.
- **Areas**: each router is mounted with ``Depends(require(area))``; the table :data:`AREAS` says which
  roles reach which area. Nobody reaches an area by default.
- **Objects**: a subscriber's requests carry :func:`subscriber_scope` (their own subscriber id) into every
  query; another subscriber's invoice, contract or delivery point is then simply not found (404).
- **CSRF**: every unsafe request authenticated by the cookie must present the session's CSRF token
  (form field ``csrf_token`` or header ``X-CSRF-Token``); token-authenticated requests carry no
  ambient credentials and need none.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from regie_chaleur.web.security import Role, Session, User, csrf_ok, load_session, user_for_token

Area = Literal["operations", "billing", "portal", "admin", "any"]
AREAS: dict[Area, frozenset[Role]] = {
    "operations": frozenset({"admin", "operator"}),
    "billing": frozenset({"admin", "billing"}),
    "portal": frozenset({"subscriber"}),
    "admin": frozenset({"admin"}),
    "any": frozenset({"admin", "operator", "billing", "subscriber"}),
}
COOKIE = "regie_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Principal:
    user: User
    session: Session | None  # None when authenticated by an API token

    @property
    def login(self) -> str:
        return self.user.login


class LoginRequiredError(HTTPException):
    """No credentials: 401 for the API, a redirect to the login page for pages (see the app's handler)."""

    def __init__(self, next_path: str) -> None:
        super().__init__(401, "authentification requise")
        self.next_path = next_path


def identify(request: Request) -> Principal | None:
    """The principal of a request (memoised on it), or None."""
    if hasattr(request.state, "principal"):
        found: Principal | None = request.state.principal
        return found
    principal = None
    db = request.app.state.db
    header = request.headers.get("authorization", "")
    with db.pool.connection() as conn:
        if header.lower().startswith("bearer "):
            user = user_for_token(conn, header[7:].strip())
            principal = Principal(user, None) if user else None
        elif request.cookies.get(COOKIE):
            session = load_session(conn, request.cookies[COOKIE])
            principal = Principal(session.user, session) if session else None
    request.state.principal = principal
    return principal


def require(area: Area) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency admitting the roles of ``area`` (401 without credentials, 403 with the wrong role,
    403 for an unsafe cookie request without the CSRF token)."""
    async def dependency(request: Request) -> Principal:
        principal = await run_in_threadpool(identify, request)  # a database read: not on the event loop
        if principal is None:
            raise LoginRequiredError(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        if principal.user.role not in AREAS[area]:
            raise HTTPException(403, "accès refusé : votre rôle ne donne pas accès à cette partie")
        if principal.session is not None and request.method not in SAFE_METHODS:
            presented = request.headers.get("x-csrf-token")
            if presented is None and "form" in request.headers.get("content-type", ""):
                presented = str((await request.form()).get("csrf_token") or "") or None
            if not csrf_ok(principal.session, presented):
                raise HTTPException(403, "jeton CSRF absent ou invalide : rechargez la page")
        return principal
    return dependency


def subscriber_scope(principal: Principal) -> int | None:
    """The subscriber whose data this principal may see: their own for a subscriber, None (all) for staff."""
    return principal.user.subscriber_id if principal.user.role == "subscriber" else None


def login_url(next_path: str) -> str:
    return f"/connexion?suivant={quote(next_path, safe='/')}"


OperatorDep = Annotated[Principal, Depends(require("operations"))]
BillingDep = Annotated[Principal, Depends(require("billing"))]
PortalDep = Annotated[Principal, Depends(require("portal"))]
AdminDep = Annotated[Principal, Depends(require("admin"))]
AnyDep = Annotated[Principal, Depends(require("any"))]
