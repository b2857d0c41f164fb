"""Network inventory import/export: validation with line numbers, all-or-nothing, idempotence."""

from __future__ import annotations

from pathlib import Path

import pytest

from regie_chaleur.db.database import Database
from regie_chaleur.errors import ImportValidationError
from regie_chaleur.registry.inventory import format_csv, format_yaml, parse_inventory
from regie_chaleur.registry.store import import_inventory_text, read_inventory
from telemetry.profiles import load_profiles


def table_counts(db: Database) -> dict[str, int]:
    with db.pool.connection() as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
                for t in ("networks", "plants", "substations", "devices", "meters", "delivery_points")}


def test_bad_file_reports_all_five_errors_with_lines_and_writes_nothing(db: Database, data_dir: Path) -> None:
    path = data_dir / "network-bad.yaml"
    with db.pool.connection() as conn, pytest.raises(ImportValidationError) as info:
        import_inventory_text(conn, path.read_text(), str(path))
    found = {(e.line, e.field) for e in info.value.errors}
    assert found == {(9, "latitude"), (12, "network"), (17, "port"), (23, "code"), (28, "name")}
    message = str(info.value)
    assert "network-bad.yaml:line 12: network: unknown network 'riverside'" in message
    assert "duplicate device code 'DEV-0001' (first at line 14)" in message
    assert set(table_counts(db).values()) == {0}


def test_good_file_imports_and_reimport_changes_nothing(db: Database, data_dir: Path) -> None:
    path = data_dir / "network-good.yaml"
    with db.pool.connection() as conn:
        first = import_inventory_text(conn, path.read_text(), str(path))
        second = import_inventory_text(conn, path.read_text(), str(path))
    assert (first.created, first.updated, first.unchanged) == (13, 0, 0)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 13)
    assert table_counts(db) == {"networks": 2, "plants": 2, "substations": 2, "devices": 3, "meters": 2,
                                "delivery_points": 2}


def test_changed_record_is_updated_in_place(db: Database, data_dir: Path) -> None:
    text = (data_dir / "network-good.yaml").read_text()
    with db.pool.connection() as conn:
        import_inventory_text(conn, text, "a.yaml")
        report = import_inventory_text(conn, text.replace("capacity_mw: 10", "capacity_mw: 12"), "b.yaml")
        capacity = conn.execute("SELECT capacity_mw FROM plants WHERE code = 'GEO-CONF'").fetchone()
    assert (report.created, report.updated) == (0, 1)
    assert capacity is not None and str(capacity[0]) == "12.000"


def test_csv_import_and_export_round_trip(db: Database, data_dir: Path) -> None:
    path = data_dir / "network-good.csv"
    with db.pool.connection() as conn:
        report = import_inventory_text(conn, path.read_text(), str(path))
        exported = read_inventory(conn)
    assert report.created == 8
    for text, name in ((format_csv(exported), "x.csv"), (format_yaml(exported), "x.yaml")):
        again = parse_inventory(text, name)
        assert again == exported


def test_csv_errors_carry_physical_lines() -> None:
    text = (
        "type,code,name,network,host,profile,substation,port\n"
        "network,centre,Centre,,,,,\n"
        "substation,S1,,centre,,,,\n"          # line 3: name missing
        "gadget,X,,,,,,\n"                     # line 4: unknown type
        "device,D1,,,not a host!,p1,S1,502\n"  # line 5: bad host
    )
    with pytest.raises(ImportValidationError) as info:
        parse_inventory(text, "inv.csv")
    assert [(e.line, e.field) for e in info.value.errors] == [(3, "name"), (4, "type"), (5, "host")]


def test_references_may_point_at_existing_rows(db: Database, data_dir: Path) -> None:
    with db.pool.connection() as conn:
        import_inventory_text(conn, (data_dir / "network-good.yaml").read_text(), "base.yaml")
        extra = "substations:\n  - code: SST-0003\n    name: Mairie\n    network: centre\n"
        report = import_inventory_text(conn, extra, "extra.yaml")
    assert report.created == 1


def test_unknown_profile_is_reported_when_profiles_are_known() -> None:
    text = ("networks: [{code: n, name: N}]\nsubstations: [{code: s, name: S, network: n}]\n"
            "devices:\n  - {code: d, substation: s, host: 10.0.0.1, profile: nope}\n")
    with pytest.raises(ImportValidationError, match="unknown device profile 'nope'"):
        parse_inventory(text, "x.yaml", profiles={"kamstrup-multical-603": load_profiles()["kamstrup-multical-603"]})


def test_not_yaml_is_one_clear_error() -> None:
    with pytest.raises(ImportValidationError, match="not valid YAML"):
        parse_inventory("networks: [\n", "broken.yaml")
