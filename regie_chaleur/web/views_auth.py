"""Signing in and out, the home page of each role, and the error pages."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from regie_chaleur.deps import DbDep
from regie_chaleur.web.authz import COOKIE, AnyDep, identify
from regie_chaleur.web.render import page
from regie_chaleur.web.security import (
    SESSION_HOURS,
    AuthError,
    TooManyAttemptsError,
    authenticate,
    close_session,
    open_session,
)

router = APIRouter(include_in_schema=False)
LOGIN_COOKIE = "regie_login"  # pre-session CSRF token of the login form (double submit)
HOME = {"operator": "/exploitation", "billing": "/facturation", "subscriber": "/espace", "admin": "/exploitation"}


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "inconnue"


def _secure(request: Request) -> bool:
    """HTTPS as the client sees it: the server sets the scheme from X-Forwarded-Proto only when the peer is
    a trusted proxy (``REGIE_TRUSTED_PROXIES``); the header itself is never read here."""
    return request.url.scheme == "https"


def _local(path: str | None) -> str | None:
    """``path`` when it is a path of this site (no open redirect), else None."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return None


@router.get("/", response_class=RedirectResponse)
def home(request: Request) -> RedirectResponse:
    principal = identify(request)
    return RedirectResponse(HOME[principal.user.role] if principal else "/connexion", status_code=303)


@router.get("/favicon.ico")
def favicon() -> RedirectResponse:
    return RedirectResponse("/static/favicon.svg", status_code=301)


@router.get("/connexion", response_class=HTMLResponse)
def login_form(request: Request, suivant: str | None = None) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = page(request, "login.html", title="Connexion", next=_local(suivant) or "", login_token=token,
                    error=None)
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="lax", secure=_secure(request), max_age=3600)
    return response


@router.post("/connexion", response_class=HTMLResponse)
def login(request: Request, db: DbDep, login: Annotated[str, Form(max_length=64)],
          password: Annotated[str, Form(max_length=256)], login_token: Annotated[str, Form()] = "",
          suivant: Annotated[str, Form()] = "") -> Response:
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, login_token):
        return page(request, "login.html", status_code=403, title="Connexion", next=_local(suivant) or "",
                    login_token=expected, error="Formulaire expiré : rechargez la page et réessayez.")
    with db.pool.connection() as conn:
        try:
            user = authenticate(conn, login, password, client_ip(request))
        except TooManyAttemptsError as exc:
            return page(request, "login.html", status_code=429, title="Connexion", next=_local(suivant) or "",
                        login_token=expected, error=str(exc))
        except AuthError as exc:
            return page(request, "login.html", status_code=401, title="Connexion", next=_local(suivant) or "",
                        login_token=expected, error=str(exc))
        token, _session = open_session(conn, user, client_ip(request), request.headers.get("user-agent", ""))
    response = RedirectResponse(_local(suivant) or HOME[user.role], status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="lax", secure=_secure(request),
                        max_age=SESSION_HOURS * 3600, path="/")
    response.delete_cookie(LOGIN_COOKIE)
    return response


@router.post("/deconnexion")
def logout(request: Request, db: DbDep, principal: AnyDep) -> RedirectResponse:
    with db.pool.connection() as conn:
        close_session(conn, request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/connexion?ok=logged-out", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/compte/mot-de-passe", response_class=HTMLResponse)
def password_form(request: Request, principal: AnyDep) -> HTMLResponse:
    return page(request, "password.html", title="Mon mot de passe", error=None)


@router.post("/compte/mot-de-passe", response_class=HTMLResponse)
def password_change(request: Request, db: DbDep, principal: AnyDep, current: Annotated[str, Form(max_length=256)],
                    new: Annotated[str, Form(max_length=256)], repeated: Annotated[str, Form(max_length=256)]
                    ) -> Response:
    """The signed-in user's own password; every session of theirs is closed, this one too."""
    from regie_chaleur.web.accounts import change_own_password

    with db.pool.connection() as conn:
        try:
            change_own_password(conn, principal.user.id, current, new, repeated)
        except AuthError as exc:
            return page(request, "password.html", status_code=422, title="Mon mot de passe", error=str(exc))
    response = RedirectResponse("/connexion?ok=password-changed", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
