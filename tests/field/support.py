"""A small network with a tree of sections and subscribers under contract, for field operations.

    PL-1 feeds TRONC ── BR-A ── BR-A1
                     └─ BR-B
    SST-0001 on BR-A, SST-0002 on BR-A1, SST-0003 on BR-B, SST-0004 on TRONC
    ABO-1: PDL-0001 and PDL-0002 (two sites); PDL-0003: ABO-2 until 30/06/2026, then ABO-4;
    ABO-3 (no e-mail address): PDL-0004
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import psycopg

from regie_chaleur.operations.alarms import Observation, apply_observations
from regie_chaleur.registry.store import import_inventory_text
from tests.billing.support import contract, setup_billing, subscriber

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
SECTIONS = """
plants:
  - {code: PL-1, name: Chaufferie centrale, network: centre, kind: gas_boiler, capacity_mw: 10}
network_sections:
  - {code: BR-A1, name: Antenne rue Marat, network: centre, parent: BR-A}
  - {code: BR-A, name: Branche nord, network: centre, parent: TRONC}
  - {code: BR-B, name: Branche sud, network: centre, parent: TRONC}
  - {code: TRONC, name: Tronc commun, network: centre, plant: PL-1}
substations:
  - {code: SST-0001, name: Sous-station 1, network: centre, network_section: BR-A}
  - {code: SST-0002, name: Sous-station 2, network: centre, network_section: BR-A1}
  - {code: SST-0003, name: Sous-station 3, network: centre, network_section: BR-B}
  - {code: SST-0004, name: Sous-station 4, network: centre, network_section: TRONC}
"""


def field_network(conn: psycopg.Connection) -> None:
    setup_billing(conn, points=4)
    import_inventory_text(conn, SECTIONS, "sections.yaml")
    for i in (1, 2, 4):
        subscriber(conn, f"ABO-{i}", i)
    subscriber(conn, "ABO-3", 3, email="")
    contract(conn, "POL-0001", "ABO-1", "PDL-0001", date(2025, 1, 1))
    contract(conn, "POL-0002", "ABO-1", "PDL-0002", date(2025, 1, 1))
    contract(conn, "POL-0003", "ABO-2", "PDL-0003", date(2025, 1, 1), end_date="2026-06-30")
    contract(conn, "POL-0005", "ABO-4", "PDL-0003", date(2026, 7, 1))
    contract(conn, "POL-0004", "ABO-3", "PDL-0004", date(2025, 1, 1))


def raise_alarm(conn: psycopg.Connection, code: str, rule: str = "comm_lost") -> int:
    """Raise an alarm of ``rule`` on a substation through the alarm pass (comm_lost is critical)."""
    sub = substation_id(conn, code)
    return apply_observations(conn, [Observation((sub, None, rule), 10.0, "aucune réponse")], NOW, {}).raised[0]


def substation_id(conn: psycopg.Connection, code: str) -> int:
    row = conn.execute("SELECT id FROM substations WHERE code = %s", (code,)).fetchone()
    assert row is not None
    return int(row[0])
