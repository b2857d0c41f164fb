"""``regie-chaleur users``: the accounts of the web application over their life (create, list, a new
role, a password reset) and their API tokens (created with an expiry, listed, revoked one by one)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from regie_chaleur.cli.common import Subparsers
from regie_chaleur.errors import RegieError
from regie_chaleur.settings import Settings

ROLES = ("admin", "operator", "billing", "subscriber")


def register(sub: Subparsers) -> None:
    users = sub.add_parser("users", help="accounts of the web application").add_subparsers(dest="action",
                                                                                          required=True)
    create = users.add_parser("create", help="create an account (the first admin, for instance)")
    create.add_argument("--login", required=True)
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", required=True, help="display name")
    create.add_argument("--subscriber", help="subscriber code (for a subscriber account)")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    create.set_defaults(handler=cmd_create)
    users.add_parser("list", help="list the accounts").set_defaults(handler=cmd_list)

    token = users.add_parser("token", help="create an API token for an account (printed once)")
    token.add_argument("login")
    token.add_argument("--name", required=True, help="what the token is for")
    token.add_argument("--days", type=int, default=365, help="how long it lives (1 to 730 days; default 365)")
    _actor(token)
    token.set_defaults(handler=cmd_token)
    tokens = users.add_parser("tokens", help="list the API tokens (never their value)")
    tokens.add_argument("login", nargs="?", help="only this account's")
    tokens.set_defaults(handler=cmd_tokens)
    revoke = users.add_parser("revoke-token", help="revoke one API token (by its number in `users tokens`)")
    revoke.add_argument("token_id", type=int)
    _actor(revoke)
    revoke.set_defaults(handler=cmd_revoke)

    password = users.add_parser("password", help="reset an account's password (its sessions are closed)")
    password.add_argument("login")
    password.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    _actor(password)
    password.set_defaults(handler=cmd_password)
    role = users.add_parser("role", help="give an account another role (its sessions are closed)")
    role.add_argument("login")
    role.add_argument("--role", required=True, choices=ROLES)
    role.add_argument("--subscriber", help="subscriber code (for a subscriber account)")
    _actor(role)
    role.set_defaults(handler=cmd_role)


def _actor(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--as", dest="actor", default=os.environ.get("USER", "cli"), help="who (audit log)")


def _connected(settings: Settings) -> Any:
    from regie_chaleur.db.database import connected

    return connected(settings)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass("Mot de passe (12 caractères au moins) : ")
    if getpass.getpass("Confirmation : ") != password:
        raise RegieError("les deux mots de passe diffèrent")
    return password


def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.web.security import AuthError, create_user

    password = _password(args.password_stdin)
    with _connected(settings) as (_db, conn):
        try:
            user = create_user(conn, args.login, args.name, args.role, password, args.subscriber)
        except AuthError as exc:
            raise RegieError(str(exc)) from exc
    print(f"account {user.login} created (role {user.role})")
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    with _connected(settings) as (_db, conn):
        for login, name, role, active, last in conn.execute(
                "SELECT login, display_name, role, active, last_login_at FROM users ORDER BY role, login"):
            print(f"{login:<24} {role:<11} {'active' if active else 'inactive':<9} {name} "
                  f"(last login {last.isoformat(timespec='minutes') if last else 'never'})")
    return 0


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.web.accounts import issue_token
    from regie_chaleur.web.security import AuthError

    with _connected(settings) as (_db, conn):
        try:
            print(issue_token(conn, args.login, args.name, args.days, actor=args.actor))
        except AuthError as exc:
            raise RegieError(str(exc)) from exc
    return 0


def cmd_tokens(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.web.accounts import list_tokens

    with _connected(settings) as (_db, conn):
        for t in list_tokens(conn, args.login):
            print(f"{t.id:>6} {t.login:<24} {t.name:<24} {t.prefix}… {t.state:<8} "
                  f"expires {t.expires_at.isoformat(timespec='minutes')} "
                  f"last used {t.last_used_at.isoformat(timespec='minutes') if t.last_used_at else 'never'}")
    return 0


def cmd_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.web.accounts import revoke_token
    from regie_chaleur.web.security import AuthError

    with _connected(settings) as (_db, conn):
        try:
            revoke_token(conn, args.token_id, actor=args.actor)
        except AuthError as exc:
            raise RegieError(str(exc)) from exc
    print(f"token {args.token_id} revoked")
    return 0


def cmd_password(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.web.accounts import reset_password
    from regie_chaleur.web.security import AuthError

    password = _password(args.password_stdin)
    with _connected(settings) as (_db, conn):
        try:
            reset_password(conn, args.login, password, actor=args.actor)
        except AuthError as exc:
            raise RegieError(str(exc)) from exc
    print(f"password of {args.login} reset; its sessions are closed")
    return 0


def cmd_role(args: argparse.Namespace, settings: Settings) -> int:
    from regie_chaleur.web.accounts import change_role
    from regie_chaleur.web.security import AuthError

    with _connected(settings) as (_db, conn):
        try:
            change_role(conn, args.login, args.role, args.subscriber, actor=args.actor)
        except AuthError as exc:
            raise RegieError(str(exc)) from exc
    print(f"{args.login} is now {args.role}")
    return 0
