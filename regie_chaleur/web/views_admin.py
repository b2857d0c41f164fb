"""Administration: accounts (roles, the subscriber of a subscriber account, password resets), API tokens
(with their expiry, revoked one by one), the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from regie_chaleur.deps import DbDep
from regie_chaleur.web.accounts import (
    MAX_TOKEN_DAYS,
    change_role,
    issue_token,
    list_tokens,
    reset_password,
    revoke_token,
)
from regie_chaleur.web.authz import AdminDep
from regie_chaleur.web.render import page
from regie_chaleur.web.security import ROLE_LABELS, ROLES, AuthError, create_user

router = APIRouter(prefix="/admin", include_in_schema=False)


def _accounts(request: Request, db: DbDep, status_code: int = 200, **extra: object) -> HTMLResponse:
    with db.pool.connection() as conn:
        users = conn.execute(
            """SELECT u.id, u.login, u.display_name, u.role, s.code, u.active, u.last_login_at,
                      (SELECT count(*) FROM api_tokens t WHERE t.user_id = u.id AND t.revoked_at IS NULL)
               FROM users u LEFT JOIN subscribers s ON s.id = u.subscriber_id ORDER BY u.role, u.login""").fetchall()
        log = conn.execute("SELECT at, actor, action, method, path, status, ip FROM audit_log ORDER BY at DESC LIMIT 30"
                           ).fetchall()
        tokens = list_tokens(conn)
    extra.setdefault("values", {})
    extra.setdefault("error", None)
    extra.setdefault("token", None)
    return page(request, "admin/accounts.html", status_code=status_code, title="Comptes", users=users, log=log,
                roles=[(r, ROLE_LABELS[r]) for r in ROLES], tokens=tokens, max_days=MAX_TOKEN_DAYS, **extra)


@router.get("/comptes", response_class=HTMLResponse)
def accounts(request: Request, db: DbDep, principal: AdminDep) -> HTMLResponse:
    return _accounts(request, db)


@router.post("/comptes", response_class=HTMLResponse)
def create_account(request: Request, db: DbDep, principal: AdminDep, login: Annotated[str, Form(max_length=64)],
                   display_name: Annotated[str, Form(max_length=200)], role: Annotated[str, Form()],
                   password: Annotated[str, Form(max_length=256)], subscriber: Annotated[str, Form()] = "") -> Response:
    try:
        with db.pool.connection() as conn:
            create_user(conn, login, display_name, role, password, subscriber or None)
    except AuthError as exc:
        return _accounts(request, db, status_code=422, values={"login": login, "display_name": display_name,
                                                               "role": role, "subscriber": subscriber},
                         error=str(exc))
    return RedirectResponse("/admin/comptes?ok=user-created", status_code=303)


@router.post("/comptes/{user_id}/desactiver")
def deactivate(db: DbDep, principal: AdminDep, user_id: int) -> RedirectResponse:
    if user_id == principal.user.id:
        raise HTTPException(409, "vous ne pouvez pas désactiver votre propre compte")
    with db.pool.connection() as conn:
        conn.execute("UPDATE users SET active = false WHERE id = %s", (user_id,))
        conn.execute("DELETE FROM sessions WHERE user_id = %s", (user_id,))
    return RedirectResponse("/admin/comptes?ok=saved", status_code=303)


@router.post("/comptes/{user_id}/jeton", response_class=HTMLResponse)
def token(request: Request, db: DbDep, principal: AdminDep, user_id: int,
          name: Annotated[str, Form(max_length=100)], days: Annotated[int, Form(ge=1, le=MAX_TOKEN_DAYS)] = 365
          ) -> HTMLResponse:
    with db.pool.connection() as conn:
        found = conn.execute("SELECT login FROM users WHERE id = %s", (user_id,)).fetchone()
        if found is None:
            raise HTTPException(404, "compte inconnu")
        try:
            value = issue_token(conn, found[0], name, days, actor=principal.login)
        except AuthError as exc:
            return _accounts(request, db, status_code=422, error=str(exc))
    return _accounts(request, db, token=value)


@router.post("/jetons/{token_id}/revoquer")
def revoke(db: DbDep, principal: AdminDep, token_id: int) -> RedirectResponse:
    with db.pool.connection() as conn:
        try:
            revoke_token(conn, token_id, actor=principal.login)
        except AuthError as exc:
            raise HTTPException(409, str(exc)) from exc
    return RedirectResponse("/admin/comptes?ok=token-revoked", status_code=303)


@router.post("/comptes/{user_id}/mot-de-passe", response_class=HTMLResponse)
def reset(request: Request, db: DbDep, principal: AdminDep, user_id: int,
          password: Annotated[str, Form(max_length=256)]) -> Response:
    """A new password set by the administrator, to hand over; the account's sessions are closed."""
    with db.pool.connection() as conn:
        found = conn.execute("SELECT login FROM users WHERE id = %s", (user_id,)).fetchone()
        if found is None:
            raise HTTPException(404, "compte inconnu")
        try:
            reset_password(conn, found[0], password, actor=principal.login)
        except AuthError as exc:
            return _accounts(request, db, status_code=422, error=f"{found[0]} : {exc}")
    return RedirectResponse("/admin/comptes?ok=password-reset", status_code=303)


@router.post("/comptes/{user_id}/role", response_class=HTMLResponse)
def role(request: Request, db: DbDep, principal: AdminDep, user_id: int, role: Annotated[str, Form(max_length=20)],
         subscriber: Annotated[str, Form(max_length=64)] = "") -> Response:
    with db.pool.connection() as conn:
        found = conn.execute("SELECT login FROM users WHERE id = %s", (user_id,)).fetchone()
        if found is None:
            raise HTTPException(404, "compte inconnu")
        try:
            change_role(conn, found[0], role, subscriber or None, actor=principal.login)
        except AuthError as exc:
            return _accounts(request, db, status_code=422, error=f"{found[0]} : {exc}")
    return RedirectResponse("/admin/comptes?ok=saved", status_code=303)
