"""Accounts, sessions, API tokens, login attempts, the audit log, and background jobs of the web application.

- ``users``: one role each (admin, operator, billing, subscriber); a subscriber account is linked to
  exactly one subscriber. Passwords as Argon2id hashes.
- ``sessions``: server-side; the browser holds a random token whose SHA-256 is the key here, with the
  session's CSRF token and expiry.
- ``api_tokens``: for machine clients (``Authorization: Bearer``), stored as SHA-256 only.
- ``login_attempts``: the rate limiter's memory (per login and per address).
- ``audit_log``: every login, logout and write through the application; append-only.
- ``web_jobs``: long actions started from a page (a bill run) and their progress.
"""

from __future__ import annotations

import psycopg

from regie_chaleur.db.capabilities import Capabilities


def apply(cur: psycopg.Cursor, caps: Capabilities) -> None:
    cur.execute("""
        CREATE TABLE users (
            id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            login         text NOT NULL UNIQUE CHECK (login ~ '^[a-z0-9._@-]{3,64}$'),
            display_name  text NOT NULL CHECK (display_name <> ''),
            role          text NOT NULL CHECK (role IN ('admin', 'operator', 'billing', 'subscriber')),
            subscriber_id bigint REFERENCES subscribers (id),
            password_hash text NOT NULL,
            active        boolean NOT NULL DEFAULT true,
            created_at    timestamptz NOT NULL DEFAULT now(),
            last_login_at timestamptz,
            CHECK ((role = 'subscriber') = (subscriber_id IS NOT NULL))
        );
        CREATE TABLE sessions (
            token_hash   char(64) PRIMARY KEY,
            user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            csrf_token   text NOT NULL,
            created_at   timestamptz NOT NULL DEFAULT now(),
            expires_at   timestamptz NOT NULL,
            ip           text,
            user_agent   text
        );
        CREATE INDEX sessions_user_idx ON sessions (user_id);
        CREATE TABLE api_tokens (
            id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            name         text NOT NULL,
            token_hash   char(64) NOT NULL UNIQUE,
            prefix       text NOT NULL,
            created_at   timestamptz NOT NULL DEFAULT now(),
            last_used_at timestamptz,
            revoked_at   timestamptz
        );
        CREATE TABLE login_attempts (
            id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            at      timestamptz NOT NULL DEFAULT now(),
            login   text NOT NULL,
            ip      text NOT NULL,
            success boolean NOT NULL
        );
        CREATE INDEX login_attempts_login_idx ON login_attempts (login, at);
        CREATE INDEX login_attempts_ip_idx ON login_attempts (ip, at);
        CREATE TABLE audit_log (
            id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            at      timestamptz NOT NULL DEFAULT now(),
            actor   text NOT NULL,
            action  text NOT NULL,
            method  text,
            path    text,
            status  integer,
            ip      text,
            details jsonb NOT NULL DEFAULT '{}'
        );
        CREATE INDEX audit_log_at_idx ON audit_log (at DESC);
        CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
            FOR EACH ROW EXECUTE FUNCTION append_only();
        CREATE TABLE web_jobs (
            id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            kind        text NOT NULL,
            status      text NOT NULL CHECK (status IN ('running', 'done', 'failed')),
            stage       text NOT NULL DEFAULT '',
            done        integer NOT NULL DEFAULT 0,
            total       integer NOT NULL DEFAULT 0,
            result      jsonb,
            error       text,
            started_by  text NOT NULL,
            started_at  timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz
        );
    """)
