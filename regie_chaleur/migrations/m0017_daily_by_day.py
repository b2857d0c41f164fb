"""``substation_daily`` by day: the network balance reads every device's row of a few days (the primary
key leads with the device)."""

from __future__ import annotations

import psycopg

from regie_chaleur.db.capabilities import Capabilities


def apply(cur: psycopg.Cursor, caps: Capabilities) -> None:
    cur.execute("CREATE INDEX substation_daily_day_idx ON substation_daily (day)")
