"""Device health keeps the real cause of the last failure: its kind (timeout, reset, refused, exception,
wrong_transaction_id, wrong_unit_id, stalled_frame, garbled...) and when it happened."""

from __future__ import annotations

import psycopg

from regie_chaleur.db.capabilities import Capabilities


def apply(cur: psycopg.Cursor, caps: Capabilities) -> None:
    cur.execute("""
        ALTER TABLE device_health ADD COLUMN last_error_kind text, ADD COLUMN last_failure timestamptz;
        COMMENT ON COLUMN device_health.last_error IS 'the real cause of the last failed poll, in French';
    """)
