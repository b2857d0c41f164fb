"""Read and write the network registry in the database.

Import is an upsert by code in one transaction: a valid file is written whole, re-importing the same
file changes nothing (rows whose values are equal are not touched), and an invalid file writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import psycopg
from psycopg import sql

from regie_chaleur.registry.inventory import (
    DeliveryPoint,
    Device,
    Inventory,
    KnownCodes,
    Meter,
    Network,
    NetworkSection,
    Plant,
    Substation,
    parse_inventory,
)
from telemetry.profiles import Profile

# a record field naming another record -> the table whose id the column `<field>_id` holds
_REF = {"substation": "substations", "plant": "plants", "device": "devices", "meter": "meters",
        "network_section": "network_sections", "parent": "network_sections"}
TABLES = ("networks", "plants", "network_sections", "substations", "devices", "meters", "delivery_points")


@dataclass(frozen=True)
class ImportReport:
    created: int
    updated: int
    unchanged: int

    def __str__(self) -> str:
        return f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"


def read_known_codes(conn: psycopg.Connection) -> KnownCodes:
    """Codes already in the registry (references in an imported file may use them)."""
    def codes(table: str) -> set[str]:
        return {r[0] for r in conn.execute(sql.SQL("SELECT code FROM {}").format(sql.Identifier(table)))}
    profiles: dict[str, str] = dict(conn.execute("SELECT code, profile FROM devices").fetchall())
    return KnownCodes(codes("networks"), codes("plants"), codes("substations"), codes("network_sections"),
                      codes("devices"), codes("meters"), profiles)


def import_inventory_text(
    conn: psycopg.Connection, text: str, path: str, *, profiles: Mapping[str, Profile] | None = None
) -> ImportReport:
    """Validate a whole inventory file, then write it in one transaction.

    Args:
        profiles: the device profiles that exist (None: the shipped ones).

    Raises:
        ImportValidationError: with every bad row; nothing was written.
    """
    inventory = parse_inventory(text, path, known=read_known_codes(conn), profiles=profiles)
    return write_inventory(conn, inventory)


def write_inventory(conn: psycopg.Connection, inventory: Inventory) -> ImportReport:
    """Upsert every record by code, in dependency order, in one transaction."""
    created = updated = total = 0
    with conn.transaction(), conn.cursor() as cur:
        for table in TABLES:  # sections are named like their tables, in dependency order
            records = getattr(inventory, table)
            for obj in (_parents_first(records) if table == "network_sections" else records):
                inserted = _upsert(cur, table, obj)
                total += 1
                if inserted is True:
                    created += 1
                elif inserted is False:
                    updated += 1
    return ImportReport(created, updated, total - created - updated)


def _parents_first(sections: list[NetworkSection]) -> list[NetworkSection]:
    """Sections ordered so that a parent in the same file is written before its children."""
    pending, out, placed = list(sections), [], set()
    in_file = {s.code for s in sections}
    while pending:
        ready = [s for s in pending if s.parent is None or s.parent not in in_file or s.parent in placed]
        ready = ready or pending  # a loop was refused at parsing; never spin
        out += ready
        placed |= {s.code for s in ready}
        pending = [s for s in pending if s not in ready]
    return out


def _upsert(cur: psycopg.Cursor, table: str, obj: Any) -> bool | None:
    """Insert or update one record; True: created, False: updated, None: unchanged."""
    columns: list[sql.Composable] = []
    values: list[sql.Composable] = []
    params: list[Any] = []
    for f in fields(obj):
        value = getattr(obj, f.name)
        if f.name in _REF:
            columns.append(sql.Identifier(f"{f.name}_id"))
            values.append(sql.SQL("(SELECT id FROM {} WHERE code = %s)").format(sql.Identifier(_REF[f.name])))
        else:
            columns.append(sql.Identifier(f.name))
            values.append(sql.SQL("%s"))
        params.append(value)
    updates = [c for c in columns if c != sql.Identifier("code")]
    query = sql.SQL(
        "INSERT INTO {t} AS cur ({cols}) VALUES ({vals}) ON CONFLICT (code) DO UPDATE SET ({upd}) = ROW({exc}) "
        "WHERE ({cur_cols}) IS DISTINCT FROM ({exc}) RETURNING (xmax = 0)"
    ).format(
        t=sql.Identifier(table), cols=sql.SQL(", ").join(columns), vals=sql.SQL(", ").join(values),
        upd=sql.SQL(", ").join(updates),
        exc=sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(c) for c in updates),
        cur_cols=sql.SQL(", ").join(sql.SQL("cur.{}").format(c) for c in updates),
    )
    row = cur.execute(query, params).fetchone()
    return None if row is None else bool(row[0])


def read_inventory(conn: psycopg.Connection) -> Inventory:
    """The whole registry as an :class:`Inventory` (for export)."""
    inv = Inventory()
    inv.networks = [Network(*r) for r in conn.execute("SELECT code, name FROM networks ORDER BY code")]
    inv.plants = [Plant(*r) for r in conn.execute(
        "SELECT code, name, network, kind, capacity_mw, latitude, longitude FROM plants ORDER BY code")]
    inv.network_sections = [NetworkSection(*r) for r in conn.execute(
        """SELECT n.code, n.name, n.network, p.code, pl.code FROM network_sections n
           LEFT JOIN network_sections p ON p.id = n.parent_id LEFT JOIN plants pl ON pl.id = n.plant_id
           ORDER BY n.code""")]
    inv.substations = [Substation(*r) for r in conn.execute(
        """SELECT s.code, s.name, s.network, s.address, s.latitude, s.longitude, n.code FROM substations s
           LEFT JOIN network_sections n ON n.id = s.network_section_id ORDER BY s.code""")]
    inv.devices = [Device(code=r[0], host=r[1], profile=r[2], substation=r[3], plant=r[4], port=r[5],
                          unit_id=r[6], enabled=r[7]) for r in conn.execute(
        """SELECT d.code, d.host, d.profile, s.code, p.code, d.port, d.unit_id, d.enabled FROM devices d
           LEFT JOIN substations s ON s.id = d.substation_id LEFT JOIN plants p ON p.id = d.plant_id
           ORDER BY d.code""")]
    inv.meters = [Meter(*r) for r in conn.execute(
        """SELECT m.code, d.code, s.code, p.code, m.register_capacity_kwh, m.volume_capacity_m3 FROM meters m
           LEFT JOIN devices d ON d.id = m.device_id LEFT JOIN substations s ON s.id = m.substation_id
           LEFT JOIN plants p ON p.id = m.plant_id ORDER BY m.code""")]
    inv.delivery_points = [DeliveryPoint(*r) for r in conn.execute(
        """SELECT dp.code, dp.name, s.code, m.code, dp.address, dp.latitude, dp.longitude
           FROM delivery_points dp JOIN substations s ON s.id = dp.substation_id
           LEFT JOIN meters m ON m.id = dp.meter_id ORDER BY dp.code""")]
    return inv


def save_delivery_point(conn: psycopg.Connection, values: dict[str, str], point_id: int | None = None) -> int:
    """Create (or, given ``point_id``, edit) a delivery point from a form: ``code``, ``name``,
    ``substation`` and ``meter`` codes, ``address``.

    Raises:
        ValidationError: every invalid field, in French; nothing written.
    """
    from billing.errors import FieldError, ValidationError
    from regie_chaleur.registry.inventory import CODE_RE

    errors = []
    code, name = (values.get("code") or "").strip(), (values.get("name") or "").strip()
    if not CODE_RE.match(code):
        errors.append(FieldError("code", "obligatoire : lettres, chiffres, - _ . (64 au plus)"))
    elif conn.execute("SELECT 1 FROM delivery_points WHERE code = %s AND id IS DISTINCT FROM %s",
                      (code, point_id)).fetchone():
        errors.append(FieldError("code", f"le point de livraison {code} existe déjà"))
    if not name:
        errors.append(FieldError("name", "obligatoire"))
    substation = conn.execute("SELECT id FROM substations WHERE code = %s", (values.get("substation"),)).fetchone()
    if substation is None:
        errors.append(FieldError("substation", f"sous-station « {values.get('substation') or ''} » inconnue"))
    meter = None
    if values.get("meter"):
        meter = conn.execute("SELECT m.id, dp.code FROM meters m LEFT JOIN delivery_points dp ON dp.meter_id = m.id "
                             "AND dp.id IS DISTINCT FROM %s WHERE m.code = %s", (point_id, values["meter"])).fetchone()
        if meter is None:
            errors.append(FieldError("meter", f"compteur « {values['meter']} » inconnu"))
        elif meter[1] is not None:
            errors.append(FieldError("meter", f"le compteur {values['meter']} équipe déjà {meter[1]}"))
    if errors:
        raise ValidationError(errors)
    assert substation is not None  # noqa: S101
    address = (values.get("address") or "").strip() or None
    with conn.transaction():
        if point_id is None:
            row = conn.execute("INSERT INTO delivery_points (code, name, substation_id, meter_id, address) "
                               "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                               (code, name, substation[0], meter[0] if meter else None, address)).fetchone()
        else:
            row = conn.execute("UPDATE delivery_points SET code = %s, name = %s, substation_id = %s, meter_id = %s, "
                               "address = %s WHERE id = %s RETURNING id",
                               (code, name, substation[0], meter[0] if meter else None, address, point_id)).fetchone()
    if row is None:
        raise ValidationError([FieldError("code", "point de livraison inconnu")])
    return int(row[0])
