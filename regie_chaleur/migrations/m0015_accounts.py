"""Accounts with a life cycle: API tokens that expire and are revoked one by one (who revoked them), and
who last changed an account's password (``password_changed_at``: sessions opened before are closed)."""

from __future__ import annotations

import psycopg

from regie_chaleur.db.capabilities import Capabilities


def apply(cur: psycopg.Cursor, caps: Capabilities) -> None:
    cur.execute("""
        ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz NOT NULL DEFAULT now() + interval '365 days';
        ALTER TABLE api_tokens ADD COLUMN revoked_by text;
        ALTER TABLE users ADD COLUMN password_changed_at timestamptz;
        CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);
    """)
