"""Accounts over their life: API tokens listed, given an expiry and revoked one by one; a password changed
by its owner or reset by an administrator (the account's sessions are closed); a role changed. Every
change is in the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from regie_chaleur.web.security import ROLES, AuthError, audit, create_api_token, hash_password, password_matches

MAX_TOKEN_DAYS = 730  # an API token lives two years at most


@dataclass(frozen=True)
class TokenInfo:
    id: int
    login: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "révoqué"
        return "expiré" if self.expires_at <= datetime.now(self.expires_at.tzinfo) else "actif"


def issue_token(conn: psycopg.Connection, login: str, name: str, days: int, *, actor: str) -> str:
    """A new API token for ``login``, valid ``days`` days (1 to :data:`MAX_TOKEN_DAYS`); printed once.

    Raises:
        AuthError: unknown or inactive account, no name, a lifetime out of bounds.
    """
    row = conn.execute("SELECT id FROM users WHERE login = %s AND active", (login.strip().lower(),)).fetchone()
    if row is None:
        raise AuthError(f"compte {login} inconnu ou désactivé")
    if not name.strip():
        raise AuthError("donnez un nom au jeton (à quoi il sert)")
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise AuthError(f"durée de {days} jours : de 1 à {MAX_TOKEN_DAYS} jours")
    token = create_api_token(conn, int(row[0]), name.strip(), timedelta(days=days))
    audit(conn, actor, "token_created", details={"login": login, "name": name, "days": days})
    return token


def list_tokens(conn: psycopg.Connection, login: str | None = None) -> list[TokenInfo]:
    """Every API token (or those of ``login``), newest first; never their value."""
    rows = conn.execute(
        "SELECT t.id, u.login, t.name, t.prefix, t.created_at, t.last_used_at, t.expires_at, t.revoked_at, "
        "t.revoked_by FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE %(login)s::text IS NULL "
        "OR u.login = %(login)s ORDER BY t.created_at DESC, t.id DESC",
        {"login": login.strip().lower() if login else None}).fetchall()
    return [TokenInfo(*r) for r in rows]


def revoke_token(conn: psycopg.Connection, token_id: int, *, actor: str) -> None:
    """Revoke one API token (at once: the next request with it is refused).

    Raises:
        AuthError: unknown or already revoked.
    """
    row = conn.execute("UPDATE api_tokens SET revoked_at = now(), revoked_by = %s WHERE id = %s "
                       "AND revoked_at IS NULL RETURNING name", (actor, token_id)).fetchone()
    if row is None:
        raise AuthError(f"jeton n° {token_id} inconnu ou déjà révoqué")
    audit(conn, actor, "token_revoked", details={"token_id": token_id, "name": row[0]})


def _set_password(conn: psycopg.Connection, user_id: int, password: str) -> None:
    conn.execute("UPDATE users SET password_hash = %s, password_changed_at = now() WHERE id = %s",
                 (hash_password(password), user_id))
    conn.execute("DELETE FROM sessions WHERE user_id = %s", (user_id,))


def change_own_password(conn: psycopg.Connection, user_id: int, current: str, new: str, repeated: str) -> None:
    """The owner changes their password (the current one first); every session of theirs is closed.

    Raises:
        AuthError: a wrong current password, two different new ones, a new one too short or unchanged.
    """
    row = conn.execute("SELECT login, password_hash FROM users WHERE id = %s AND active", (user_id,)).fetchone()
    if row is None:
        raise AuthError("compte inconnu ou désactivé")
    if not password_matches(row[1], current):
        raise AuthError("mot de passe actuel incorrect")
    if new != repeated:
        raise AuthError("les deux saisies du nouveau mot de passe diffèrent")
    if new == current:
        raise AuthError("le nouveau mot de passe doit différer de l'actuel")
    _set_password(conn, user_id, new)
    audit(conn, row[0], "password_changed")


def reset_password(conn: psycopg.Connection, login: str, password: str, *, actor: str) -> None:
    """An administrator sets a new password for ``login`` (to hand over); its sessions are closed.

    Raises:
        AuthError: unknown account, a password too short.
    """
    row = conn.execute("SELECT id FROM users WHERE login = %s", (login.strip().lower(),)).fetchone()
    if row is None:
        raise AuthError(f"compte {login} inconnu")
    _set_password(conn, int(row[0]), password)
    audit(conn, actor, "password_reset", details={"login": login})


def change_role(conn: psycopg.Connection, login: str, role: str, subscriber_code: str | None, *,
                actor: str) -> None:
    """Give ``login`` another role (a subscriber account names its subscriber); its sessions are closed.

    Raises:
        AuthError: unknown account or role, a subscriber account without a known subscriber, or an
            administrator taking away their own role.
    """
    row = conn.execute("SELECT id, login FROM users WHERE login = %s", (login.strip().lower(),)).fetchone()
    if row is None:
        raise AuthError(f"compte {login} inconnu")
    if role not in ROLES:
        raise AuthError(f"rôle « {role} » inconnu ({', '.join(ROLES)})")
    if row[1] == actor and role != "admin":
        raise AuthError("vous ne pouvez pas retirer votre propre rôle d'administrateur")
    subscriber_id = None
    if role == "subscriber":
        found = conn.execute("SELECT id FROM subscribers WHERE code = %s", (subscriber_code,)).fetchone()
        if found is None:
            raise AuthError(f"un compte abonné est rattaché à un abonné existant (« {subscriber_code} » inconnu)")
        subscriber_id = int(found[0])
    conn.execute("UPDATE users SET role = %s, subscriber_id = %s WHERE id = %s", (role, subscriber_id, row[0]))
    conn.execute("DELETE FROM sessions WHERE user_id = %s", (row[0],))
    audit(conn, actor, "role_changed", details={"login": row[1], "role": role, "subscriber": subscriber_code})
