"""Authentication: passwords, sessions, CSRF tokens, login rate limiting, API tokens, the audit log.

- Passwords are Argon2id hashes (``argon2-cffi``, its default parameters, rehashed when they change).
  An unknown login is checked against a dummy hash, so it takes as long as a wrong password.
- A session is a random 256-bit token in an HttpOnly, SameSite=Lax cookie (Secure over TLS); the
  database keeps only its SHA-256, with the session's CSRF token and expiry.
- Login attempts are counted per login and per address over a window; beyond the limits, refused.
- API tokens (``Authorization: Bearer rc_...``) are shown once and stored as SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from psycopg.types.json import Jsonb

from regie_chaleur.db.database import Database
from regie_chaleur.errors import RegieError

Role = Literal["admin", "operator", "billing", "subscriber"]
ROLES: tuple[Role, ...] = ("admin", "operator", "billing", "subscriber")
ROLE_LABELS = {"admin": "administration", "operator": "conduite du réseau", "billing": "facturation",
               "subscriber": "abonné"}
SESSION_HOURS = 12
FAILURE_WINDOW = timedelta(minutes=15)
#: failures of one login from one address before each further try waits (1 s, 2 s, 4 s... up to MAX_WAIT)
FREE_FAILURES_PER_PAIR = 3
#: failures from one address, whatever the logins, before its tries wait likewise
FREE_FAILURES_PER_ADDRESS = 10
MAX_WAIT = timedelta(minutes=5)
TOKEN_PREFIX = "rc_"  # noqa: S105  (a marker that makes leaked tokens recognisable, not a secret)
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


class AuthError(RegieError):
    """Authentication refused (the message is safe to show: it never says which part was wrong)."""


class TooManyAttemptsError(AuthError):
    """Too many failed logins recently, for this login or from this address."""


@dataclass(frozen=True)
class User:
    id: int
    login: str
    display_name: str
    role: Role
    subscriber_id: int | None


@dataclass(frozen=True)
class Session:
    user: User
    csrf_token: str
    expires_at: datetime


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` (at least 12 characters).

    Raises:
        AuthError: too short.
    """
    if len(password) < 12:
        raise AuthError("le mot de passe doit compter au moins 12 caractères")
    return str(_HASHER.hash(password))


def password_matches(stored_hash: str, password: str) -> bool:
    """Whether ``password`` is the one ``stored_hash`` was made from (Argon2id)."""
    try:
        return bool(_HASHER.verify(stored_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _user(row: tuple[Any, ...]) -> User:
    return User(int(row[0]), row[1], row[2], row[3], row[4])


def authenticate(conn: psycopg.Connection, login: str, password: str, ip: str) -> User:
    """The user whose login and password these are.

    Raises:
        TooManyAttemptsError: the address must wait before trying again (:func:`required_wait`).
        AuthError: unknown login, wrong password or inactive account (one message for all).
    """
    login = login.strip().lower()
    wait = required_wait(conn, login, ip)
    if wait > timedelta(0):
        audit(conn, login, "login_throttled", ip=ip)
        raise TooManyAttemptsError(f"trop de tentatives depuis cette adresse : réessayez dans "
                                   f"{max(1, round(wait.total_seconds()))} s")
    row = conn.execute("SELECT id, login, display_name, role, subscriber_id, password_hash, active FROM users "
                       "WHERE login = %s", (login,)).fetchone()
    stored = row[5] if row is not None else _DUMMY_HASH
    ok: bool
    try:
        ok = _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    ok = ok and row is not None and bool(row[6])
    conn.execute("INSERT INTO login_attempts (login, ip, success) VALUES (%s, %s, %s)", (login, ip, ok))
    audit(conn, login, "login" if ok else "login_failed", ip=ip)
    if not ok or row is None:
        raise AuthError("identifiant ou mot de passe incorrect")
    if _HASHER.check_needs_rehash(row[5]):
        conn.execute("UPDATE users SET password_hash = %s WHERE id = %s", (_HASHER.hash(password), row[0]))
    conn.execute("UPDATE users SET last_login_at = now() WHERE id = %s", (row[0],))
    return _user(row)


def required_wait(conn: psycopg.Connection, login: str, ip: str) -> timedelta:
    """How long the next try of ``login`` from ``ip`` must still wait: growing delays after failures of
    that login *from that address*, and of that address whatever the login. Never a lock on an account:
    someone failing on a login from elsewhere does not slow down its owner."""
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE login = %(login)s), max(at) FILTER (WHERE login = %(login)s), count(*), "
        "max(at), now() FROM login_attempts WHERE NOT success AND ip = %(ip)s AND at > now() - %(window)s",
        {"login": login, "ip": ip, "window": FAILURE_WINDOW}).fetchone()
    if row is None:
        return timedelta(0)
    pair, pair_last, address, address_last, now = row

    def until(failures: int, last: datetime | None, free: int) -> timedelta:
        if last is None or failures < free:
            return timedelta(0)
        delay = min(MAX_WAIT, timedelta(seconds=2 ** min(failures - free, 16)))
        remaining: timedelta = last + delay - now
        return remaining

    wait: timedelta = max(until(pair, pair_last, FREE_FAILURES_PER_PAIR),
                          until(address, address_last, FREE_FAILURES_PER_ADDRESS), timedelta(0))
    return wait


def open_session(conn: psycopg.Connection, user: User, ip: str, user_agent: str) -> tuple[str, Session]:
    """A new session; returns the token for the cookie (never stored) and the session."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + timedelta(hours=SESSION_HOURS)
    conn.execute("INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at, ip, user_agent) "
                 "VALUES (%s, %s, %s, %s, %s, %s)", (digest(token), user.id, csrf, expires, ip, user_agent[:300]))
    return token, Session(user, csrf, expires)


def load_session(conn: psycopg.Connection, token: str) -> Session | None:
    """The live session of a cookie token, or None."""
    row = conn.execute(
        """SELECT u.id, u.login, u.display_name, u.role, u.subscriber_id, s.csrf_token, s.expires_at
           FROM sessions s JOIN users u ON u.id = s.user_id
           WHERE s.token_hash = %s AND s.expires_at > now() AND u.active""", (digest(token),)).fetchone()
    return Session(_user(row), row[5], row[6]) if row is not None else None


def close_session(conn: psycopg.Connection, token: str) -> None:
    conn.execute("DELETE FROM sessions WHERE token_hash = %s", (digest(token),))


def csrf_ok(session: Session, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(session.csrf_token, presented)


def create_api_token(conn: psycopg.Connection, user_id: int, name: str,
                     lifetime: timedelta = timedelta(days=365)) -> str:
    """A new API token for a user, valid for ``lifetime``; the only time it is seen in clear."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    conn.execute("INSERT INTO api_tokens (user_id, name, token_hash, prefix, expires_at) "
                 "VALUES (%s, %s, %s, %s, now() + %s)", (user_id, name, digest(token), token[:10], lifetime))
    return token


def user_for_token(conn: psycopg.Connection, token: str) -> User | None:
    """The active user of a live API token (not revoked, not expired), or None."""
    row = conn.execute(
        """UPDATE api_tokens t SET last_used_at = now() FROM users u
           WHERE t.token_hash = %s AND t.revoked_at IS NULL AND t.expires_at > now() AND u.id = t.user_id
             AND u.active
           RETURNING u.id, u.login, u.display_name, u.role, u.subscriber_id""", (digest(token),)).fetchone()
    return _user(row) if row is not None else None


def create_user(conn: psycopg.Connection, login: str, display_name: str, role: str, password: str,
                subscriber_code: str | None = None) -> User:
    """Create an account.

    Raises:
        AuthError: bad role, a subscriber account without a (known) subscriber, a taken login, a short
            password.
    """
    login = login.strip().lower()
    if role not in ROLES:
        raise AuthError(f"rôle « {role} » inconnu ({', '.join(ROLES)})")
    subscriber_id = None
    if role == "subscriber":
        row = conn.execute("SELECT id FROM subscribers WHERE code = %s", (subscriber_code,)).fetchone()
        if row is None:
            raise AuthError(f"un compte abonné est rattaché à un abonné existant (« {subscriber_code} » inconnu)")
        subscriber_id = int(row[0])
    elif subscriber_code:
        raise AuthError("seul un compte abonné est rattaché à un abonné")
    if conn.execute("SELECT 1 FROM users WHERE login = %s", (login,)).fetchone():
        raise AuthError(f"l'identifiant {login} est déjà pris")
    try:
        row = conn.execute("INSERT INTO users (login, display_name, role, subscriber_id, password_hash) "
                           "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                           (login, display_name, role, subscriber_id, hash_password(password))).fetchone()
    except psycopg.errors.CheckViolation as exc:
        raise AuthError(f"identifiant « {login} » invalide (3 à 64 caractères a-z 0-9 . _ @ -)") from exc
    assert row is not None  # noqa: S101
    return User(int(row[0]), login, display_name, role, subscriber_id)


def audit(conn: psycopg.Connection, actor: str, action: str, *, method: str | None = None, path: str | None = None,
          status: int | None = None, ip: str | None = None, details: dict[str, Any] | None = None) -> None:
    """Append to the audit log (logins and every write)."""
    conn.execute("INSERT INTO audit_log (actor, action, method, path, status, ip, details) "
                 "VALUES (%s, %s, %s, %s, %s, %s, %s)", (actor, action, method, path, status, ip, Jsonb(details or {})))


def audit_write(db: Database, actor: str, method: str, path: str, status: int, ip: str | None) -> None:
    """A write through the application, whatever its outcome (a refusal or a failure too), in the audit log."""
    try:
        with db.pool.connection(timeout=5) as conn:
            audit(conn, actor, "write", method=method, path=path, status=status, ip=ip)
    except psycopg.Error:  # the answer is already decided; the failure is logged, not hidden
        import logging

        logging.getLogger(__name__).warning("audit log unavailable for %s %s", method, path)
