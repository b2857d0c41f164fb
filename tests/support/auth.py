"""Accounts for tests: an API token for a role, or an HTTP client signed in through the login page."""

from __future__ import annotations

import re
import uuid

import httpx

from regie_chaleur.db.database import Database
from regie_chaleur.web.security import create_api_token, create_user

PASSWORD = "un mot de passe assez long"


def account(db: Database, role: str, subscriber: str | None = None, login: str | None = None) -> str:
    """Create an account; returns its login (the password is :data:`PASSWORD`)."""
    login = login or f"{role}-{uuid.uuid4().hex[:6]}"
    with db.pool.connection() as conn:
        create_user(conn, login, f"{role.capitalize()} de test", role, PASSWORD, subscriber)
    return login


def bearer(db: Database, role: str, subscriber: str | None = None) -> dict[str, str]:
    """Headers with the API token of a new account of ``role``."""
    login = account(db, role, subscriber)
    with db.pool.connection() as conn:
        user_id = conn.execute("SELECT id FROM users WHERE login = %s", (login,)).fetchone()
        assert user_id is not None
        token = create_api_token(conn, int(user_id[0]), "tests")
    return {"Authorization": f"Bearer {token}"}


def signed_in(base: str, login: str, password: str = PASSWORD) -> httpx.Client:
    """A client signed in through the login form, sending the session's CSRF token with its writes."""
    client = httpx.Client(base_url=base, follow_redirects=False, timeout=60)
    form = client.get("/connexion")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token is not None
    answer = client.post("/connexion", data={"login": login, "password": password, "login_token": token.group(1)})
    assert answer.status_code == 303, answer.text
    page = client.get(answer.headers["location"])
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    assert csrf is not None
    client.headers["X-CSRF-Token"] = csrf.group(1)
    return client
