"""Network sections in the inventory: a tree written parents first whatever the file's order, a loop or
an unknown parent refused with its line, exported and imported back unchanged (YAML and CSV)."""

from __future__ import annotations

import pytest

from regie_chaleur.db.database import Database
from regie_chaleur.errors import ImportValidationError
from regie_chaleur.registry.inventory import format_csv, format_yaml
from regie_chaleur.registry.store import import_inventory_text, read_inventory

TREE = """networks:
  - {code: centre, name: Centre}
plants:
  - {code: UVE, name: UVE, network: centre, kind: recovered_heat, capacity_mw: 40}
network_sections:
  - {code: ANT-1, name: Antenne rue Marat, network: centre, parent: TRONC}
  - {code: TRONC, name: Tronc commun, network: centre, plant: UVE}
substations:
  - {code: SST-1, name: Sous-station 1, network: centre, network_section: ANT-1}
"""


def test_sections_form_a_tree_written_parents_first(db: Database) -> None:
    with db.pool.connection() as conn:
        created = import_inventory_text(conn, TREE, "arbre.yaml")
        exported = read_inventory(conn)
        again_yaml = import_inventory_text(conn, format_yaml(exported), "export.yaml")
        again_csv = import_inventory_text(conn, format_csv(exported), "export.csv")
        parent = conn.execute("SELECT p.code FROM network_sections n JOIN network_sections p ON p.id = n.parent_id "
                              "WHERE n.code = 'ANT-1'").fetchone()
    assert created.created == 5 and parent == ("TRONC",)
    assert [s.network_section for s in exported.substations] == ["ANT-1"]
    assert again_yaml.created == again_yaml.updated == 0 and again_csv.created == again_csv.updated == 0


@pytest.mark.parametrize(("sections", "line", "message"), [
    ("  - {code: A, name: A, network: centre, parent: B}\n  - {code: B, name: B, network: centre, parent: A}\n",
     6, "section 'A' is its own ancestor"),
    ("  - {code: A, name: A, network: centre, parent: NULLE-PART}\n", 6, "unknown parent 'NULLE-PART'"),
])
def test_a_loop_or_an_unknown_parent_is_refused_with_its_line(db: Database, sections: str, line: int,
                                                              message: str) -> None:
    text = "networks:\n  - {code: centre, name: Centre}\nplants: []\nnetwork_sections:\n" + sections
    text = text.replace("plants: []\n", "plants: []\n\n")
    with db.pool.connection() as conn, pytest.raises(ImportValidationError) as info:
        import_inventory_text(conn, text, "arbre.yaml")
    assert any(e.line == line and message in e.message for e in info.value.errors), info.value
    with db.pool.connection() as conn:
        assert conn.execute("SELECT count(*) FROM networks").fetchone() == (0,)  # nothing written
