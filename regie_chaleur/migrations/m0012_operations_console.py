"""Operations console: the ``invalid_data`` alarm rule (a device answers without any valid value), plant
unavailabilities declared by operators (the planner's outage calendar)."""

from __future__ import annotations

import psycopg

from regie_chaleur.db.capabilities import Capabilities

RULES = ("comm_lost", "invalid_data", "frozen_sensor", "out_of_range", "meter_error", "counter_backwards",
         "return_too_high", "delta_t_too_low", "power_above_subscribed", "night_flow", "signature_anomaly")


def apply(cur: psycopg.Cursor, caps: Capabilities) -> None:
    rules = ", ".join(f"'{r}'" for r in RULES)
    for table in ("alarms", "alarm_thresholds"):
        names = [r[0] for r in cur.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'c' "
            "AND pg_get_constraintdef(oid) LIKE '%%rule%%'", (table,)).fetchall()]
        for name in names:
            cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        cur.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_rule_check CHECK (rule IN ({rules}))")
    cur.execute("""
        CREATE TABLE plant_unavailabilities (
            id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            plant      text NOT NULL,
            start_at   timestamptz NOT NULL,
            end_at     timestamptz NOT NULL CHECK (end_at > start_at),
            reason     text NOT NULL,
            created_by text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            cancelled_at timestamptz,
            cancelled_by text
        );
        COMMENT ON TABLE plant_unavailabilities IS
          'Outage calendar of the production plants (plant = its name in the planner''s plants file): '
          'capacity 0 from start_at to end_at; a cancelled row no longer applies.';
        CREATE INDEX plant_unavailabilities_active ON plant_unavailabilities (end_at) WHERE cancelled_at IS NULL;
    """)
