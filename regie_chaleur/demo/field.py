"""The demonstration's field operations, set up once: the on-call rota of three people, next year's
preventive visits, an open repair order, a subscriber's request waiting for an answer, a planned outage
on a branch of the social landlord's sites (its notice already out, so its portal shows the banner),
and a verified repair: a substation of that landlord whose return temperature ran 9 K too hot for three
weeks, fixed twelve days ago, the improvement measured on the history and weather-corrected.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg

from regie_chaleur.db.database import Database
from regie_chaleur.demo.network import DemoSubstation, inventory_yaml
from regie_chaleur.demo.setup import ACTOR, Progress
from regie_chaleur.field import oncall, orders, outages, preventive, requests
from regie_chaleur.field.notices import send_notices
from regie_chaleur.field.repair import evaluate_repairs
from regie_chaleur.operations.rollups import refresh_operations
from regie_chaleur.registry.store import import_inventory_text

PARIS = ZoneInfo("Europe/Paris")
LANDLORD = "OPH-IVRY"  # the demo subscriber account's
PEOPLE = [("Claire Dubois", "claire.dubois@regie-ivry.example", ""), ("Karim Benali", "", "+33600000001"),
          ("Sophie Laurent", "sophie.laurent@regie-ivry.example", "+33600000002")]
FAULT_K = 9.0  # [K] the planted fault: the return temperature this much too hot


def at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), PARIS)


def set_up_field(db: Database, subs: list[DemoSubstation], now: datetime, progress: Progress) -> None:
    """Everything above, once (the rota's existence says it was done)."""
    with db.pool.connection() as conn:
        if conn.execute("SELECT 1 FROM on_call_people LIMIT 1").fetchone():
            return
        if not conn.execute("SELECT 1 FROM network_sections LIMIT 1").fetchone():  # a database of an older demo
            import_inventory_text(conn, inventory_yaml(subs), "réseau de démonstration")
        today = now.astimezone(PARIS).date()
        _rota(conn, today)
        preventive.plan_every_substation(conn, "Équipe maintenance")
        preventive.generate_visits(conn, today.year + 1, ACTOR, now)
        sites = conn.execute(  # the landlord's sites first (a small demo may give it none)
            """SELECT DISTINCT ON (s.code) s.code, dp.code, s.network_section_id, sb.code = %(who)s, sb.id
               FROM contracts c JOIN subscribers sb ON sb.id = c.subscriber_id
               JOIN delivery_points dp ON dp.id = c.delivery_point_id JOIN substations s ON s.id = dp.substation_id
               WHERE c.end_date IS NULL ORDER BY s.code, sb.code = %(who)s DESC""", {"who": LANDLORD}).fetchall()
        sites.sort(key=lambda s: (not s[3], s[0]))
        repaired = sites[0]
        outage_site = next((s for s in sites[1:] if s[2] != repaired[2]), sites[-1])
        _verified_repair(conn, repaired[0], today)
        _open_order_and_request(conn, sites, now)
        section = conn.execute("SELECT code FROM network_sections WHERE id = %s", (outage_site[2],)).fetchone()
        start = at(today + timedelta(days=4), 8)
        outages.declare_outage(conn, kind="planned", title="Remplacement d'une vanne de sectionnement",
                               place=("network_section", section[0]), start=start,  # type: ignore[index]
                               end=start + timedelta(hours=6), by=ACTOR, now=now, notice_days=7,
                               reason="Les travaux remplacent la vanne qui isole l'antenne du tronc commun.")
        send_notices(conn, now, None)
        verdicts = evaluate_repairs(conn, now)
    progress.step(f"field operations: rota, visits for {today.year + 1}, an open order, an outage in 4 days "
                  f"announced, a repair judged {verdicts}")


def _rota(conn: psycopg.Connection, today: date) -> None:
    ids = [oncall.add_person(conn, name, email, phone) for name, email, phone in PEOPLE]
    for week in range(8):
        monday = oncall.week_start(today) + timedelta(weeks=week)
        oncall.assign(conn, monday, 1, ids[week % 3])
        oncall.assign(conn, monday, 2, ids[(week + 1) % 3])


def _verified_repair(conn: psycopg.Connection, substation: str, today: date) -> None:
    """Plant the fault in the history (three weeks), roll the days up again, record the repair."""
    fixed = today - timedelta(days=12)
    fault_from, fault_to = at(today - timedelta(days=33), 0), at(fixed, 15)
    conn.execute("""UPDATE substation_samples SET t_return_primary = t_return_primary + %s
                    WHERE device_id IN (SELECT d.id FROM devices d JOIN substations s ON s.id = d.substation_id
                                        WHERE s.code = %s) AND time >= %s AND time < %s""",
                 (FAULT_K, substation, fault_from, fault_to))
    refresh_operations(conn, fault_from - timedelta(hours=1), fault_to + timedelta(hours=1))
    order = orders.create_order(conn, title="Retour primaire trop chaud : vanne de régulation bloquée ouverte",
                                kind="repair", place=("substation", substation), by=ACTOR, now=at(fixed, 8),
                                priority="high", team="Équipe sous-stations", planned_for=fixed)
    orders.set_status(conn, order, "in_progress", "technicien", at(fixed, 9))
    orders.add_part(conn, order, "Servomoteur de vanne de régulation", Decimal("1"), "u", "technicien", at(fixed, 12))
    orders.add_time(conn, order, 300, "technicien", at(fixed, 15), "dépose, remplacement, réglage")
    orders.set_status(conn, order, "done", "technicien", at(fixed, 15), "vanne remplacée, régulation recalée")


def _open_order_and_request(conn: psycopg.Connection, sites: list[tuple[str, str, int, bool, int]],
                            now: datetime) -> None:
    """A repair planned for tomorrow, and a request about another site waiting for an answer."""
    tomorrow = now.astimezone(PARIS).date() + timedelta(days=1)
    orders.create_order(conn, title="Suintement sur la bride du circuit primaire", kind="repair",
                        place=("substation", sites[-1][0]), by=ACTOR, now=now, priority="normal",
                        team="Équipe sous-stations", planned_for=tomorrow,
                        description="Signalé par le gardien ; à resserrer ou changer le joint.")
    asking = sites[1] if len(sites) > 1 else sites[0]
    requests.file_request(conn, asking[4], asking[1], "noise",
                          "Sifflement dans la chaufferie de l'immeuble depuis lundi.", "abonne", now)
