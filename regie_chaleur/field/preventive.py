"""Preventive maintenance: a yearly visit per substation (its month and team), generated as orders.

Visits are spread over May to September by default (out of the heating season, when a substation can
be stopped for a few hours without anybody going cold). A year is generated once: a substation has at
most one open or done visit order per year (a unique index), so generating again adds only the
substations planned since.
"""

from __future__ import annotations

from datetime import date, datetime

import psycopg

from regie_chaleur.field.errors import InputError, UnknownError
from regie_chaleur.field.orders import create_order

OFF_SEASON = (5, 6, 7, 8, 9)  # months


def plan_every_substation(conn: psycopg.Connection, team: str = "") -> int:
    """Give each substation without a plan one, spread over the off-season months; returns how many."""
    rows = conn.execute("SELECT s.id FROM substations s LEFT JOIN maintenance_plans m ON m.substation_id = s.id "
                        "WHERE m.substation_id IS NULL ORDER BY s.id").fetchall()
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany("INSERT INTO maintenance_plans (substation_id, month, team) VALUES (%s, %s, %s)",
                        [(r[0], OFF_SEASON[i % len(OFF_SEASON)], team) for i, r in enumerate(rows)])
    return len(rows)


def set_plan(conn: psycopg.Connection, substation: str, month: int, team: str = "", active: bool = True) -> None:
    """A substation's yearly visit: its month (1-12) and team."""
    if not 1 <= month <= 12:
        raise InputError("mois de la visite : entre 1 et 12")
    row = conn.execute("SELECT id FROM substations WHERE code = %s", (substation,)).fetchone()
    if row is None:
        raise UnknownError(f"sous-station inconnue : {substation[:64]}")
    conn.execute("INSERT INTO maintenance_plans (substation_id, month, team, active) VALUES (%s, %s, %s, %s) "
                 "ON CONFLICT (substation_id) DO UPDATE SET month = EXCLUDED.month, team = EXCLUDED.team, "
                 "active = EXCLUDED.active", (row[0], month, team.strip()[:100], active))


def generate_visits(conn: psycopg.Connection, year: int, by: str, now: datetime) -> list[int]:
    """The year's visit orders of the active plans that have none yet; returns the new orders' ids."""
    if not 2000 <= year <= 2100:
        raise InputError("année : entre 2000 et 2100")
    due = conn.execute(
        """SELECT s.code, m.month, m.team FROM maintenance_plans m JOIN substations s ON s.id = m.substation_id
           WHERE m.active AND NOT EXISTS (SELECT 1 FROM work_orders o WHERE o.substation_id = m.substation_id
                 AND o.origin = 'maintenance_plan' AND o.plan_year = %s AND o.status <> 'cancelled')
           ORDER BY m.month, s.code""", (year,)).fetchall()
    created = []
    with conn.transaction():
        for code, month, team in due:
            created.append(create_order(
                conn, title=f"Visite annuelle {year} de la sous-station {code}", kind="preventive",
                place=("substation", code), by=by, now=now, team=team, planned_for=date(year, month, 1),
                origin="maintenance_plan", plan_year=year,
                description="Contrôle de l'échangeur, des vannes et de la régulation ; relevé et test du compteur."))
    return created
