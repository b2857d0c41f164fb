"""Parse and validate a network inventory file (YAML or CSV), reporting every bad row with its line.

Pure: takes text, returns an :class:`Inventory` or raises :class:`ImportValidationError` carrying all
the problems found (never only the first). Both formats hold the same records:

- YAML: top-level sections ``networks``, ``plants``, ``network_sections``, ``substations``, ``devices``,
  ``meters``, ``delivery_points``, each a list of mappings; CSV: one record per line, its section in the
  ``type`` column (``network``, ``network_section``, ...), cells a record does not use left empty.

References (a device's ``substation``, a section's ``parent``...) are codes, resolved against the file
itself and the codes already in the database.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml

from regie_chaleur.errors import ImportValidationError, RowError
from regie_chaleur.registry.capacities import with_capacities
from regie_chaleur.registry.records import (
    PLANT_KINDS,
    SECTION_TYPES,
    SECTIONS,
    DeliveryPoint,
    Device,
    Inventory,
    Meter,
    Network,
    NetworkSection,
    Plant,
    Substation,
)
from telemetry.profiles import Profile, load_profiles

__all__ = ["CODE_RE", "SECTIONS", "SECTION_TYPES", "DeliveryPoint", "Device", "Inventory", "Meter", "Network",
           "NetworkSection", "Plant", "Substation", "format_csv", "format_yaml", "parse_inventory"]

CODE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_RE = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")


# --- field parsers: str -> value, raising ValueError with a French-free, precise message -------------
def _text(v: str) -> str:
    v = v.strip()
    if not v:
        raise ValueError("must not be empty")
    return v


def _code(v: str) -> str:
    v = v.strip()
    if not CODE_RE.match(v):
        raise ValueError(f"{v!r} is not a code (1-64 letters, digits, '_', '.', '-')")
    return v


def _host(v: str) -> str:
    v = v.strip()
    try:
        ipaddress.ip_address(v)
        return v
    except ValueError:
        if HOST_RE.match(v):
            return v
    raise ValueError(f"{v!r} is neither an IP address nor a host name")


def _int_range(lo: int, hi: int) -> Callable[[str], int]:
    def parse(v: str) -> int:
        try:
            n = int(v.strip())
        except ValueError:
            raise ValueError(f"{v!r} is not an integer") from None
        if not lo <= n <= hi:
            raise ValueError(f"{n} is outside {lo}..{hi}")
        return n
    return parse


def _positive_decimal(v: str) -> Decimal:
    try:
        d = Decimal(v.strip())
    except InvalidOperation:
        raise ValueError(f"{v!r} is not a number") from None
    if not d.is_finite() or d <= 0:
        raise ValueError(f"{v} must be a positive number")
    return d


def _float_range(lo: float, hi: float) -> Callable[[str], float]:
    def parse(v: str) -> float:
        try:
            x = float(v.strip())
        except ValueError:
            raise ValueError(f"{v!r} is not a number") from None
        if not lo <= x <= hi:
            raise ValueError(f"{x} is outside {lo}..{hi}")
        return x
    return parse


def _bool(v: str) -> bool:
    s = v.strip().lower()
    if s in ("true", "yes", "1", "oui"):
        return True
    if s in ("false", "no", "0", "non"):
        return False
    raise ValueError(f"{v!r} is not a boolean (true/false)")


def _enum(choices: Iterable[str]) -> Callable[[str], str]:
    allowed = tuple(choices)

    def parse(v: str) -> str:
        if v.strip() not in allowed:
            raise ValueError(f"{v!r} is not one of {', '.join(allowed)}")
        return v.strip()
    return parse


_LAT, _LON = _float_range(-90, 90), _float_range(-180, 180)
PARSERS: dict[type, dict[str, Callable[[str], Any]]] = {
    Network: {"code": _code, "name": _text},
    Plant: {"code": _code, "name": _text, "network": _code, "kind": _enum(PLANT_KINDS),
            "capacity_mw": _positive_decimal, "latitude": _LAT, "longitude": _LON},
    NetworkSection: {"code": _code, "name": _text, "network": _code, "parent": _code, "plant": _code},
    Substation: {"code": _code, "name": _text, "network": _code, "address": _text,
                 "latitude": _LAT, "longitude": _LON, "network_section": _code},
    Device: {"code": _code, "host": _host, "profile": _code, "substation": _code, "plant": _code,
             "port": _int_range(1, 65535), "unit_id": _int_range(0, 255), "enabled": _bool},
    Meter: {"code": _code, "device": _code, "substation": _code, "plant": _code,
            "register_capacity_kwh": _positive_decimal, "volume_capacity_m3": _positive_decimal},
    DeliveryPoint: {"code": _code, "name": _text, "substation": _code, "meter": _code, "address": _text,
                    "latitude": _LAT, "longitude": _LON},
}


@dataclass(frozen=True)
class RawRecord:
    """One record as read from the file: field -> (text or None, line)."""

    kind: str
    line: int
    values: Mapping[str, tuple[str | None, int]]


# --- readers ------------------------------------------------------------------------------------------
def read_yaml_records(text: str) -> tuple[list[RawRecord], list[RowError]]:
    """Records of a YAML inventory, with the line of each field."""
    errors: list[RowError] = []
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return [], [RowError(mark.line + 1 if mark else 1, "(file)", f"not valid YAML: {exc}")]
    if root is None:
        return [], [RowError(1, "(file)", "the file is empty")]
    if not isinstance(root, yaml.MappingNode):
        return [], [RowError(root.start_mark.line + 1, "(file)", "expected a mapping of sections")]
    records: list[RawRecord] = []
    for key_node, section_node in root.value:
        section = str(key_node.value)
        if section not in SECTION_TYPES:
            errors.append(RowError(key_node.start_mark.line + 1, section,
                                   f"unknown section (expected {', '.join(SECTION_TYPES)})"))
            continue
        if not isinstance(section_node, yaml.SequenceNode):
            errors.append(RowError(section_node.start_mark.line + 1, section, "expected a list of records"))
            continue
        for item in section_node.value:
            line = item.start_mark.line + 1
            if not isinstance(item, yaml.MappingNode):
                errors.append(RowError(line, section, "expected a mapping (field: value)"))
                continue
            values: dict[str, tuple[str | None, int]] = {}
            for k, v in item.value:
                if not isinstance(v, yaml.ScalarNode):
                    errors.append(RowError(v.start_mark.line + 1, str(k.value), "expected a single value"))
                    continue
                is_null = v.tag == "tag:yaml.org,2002:null"
                values[str(k.value)] = (None if is_null else str(v.value), k.start_mark.line + 1)
            records.append(RawRecord(SECTION_TYPES[section], line, values))
    return records, errors


def read_csv_records(text: str) -> tuple[list[RawRecord], list[RowError]]:
    """Records of a CSV inventory (``type`` column + fields); line numbers count the header as 1."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "type" not in reader.fieldnames:
        return [], [RowError(1, "type", "the header must have a 'type' column")]
    records: list[RawRecord] = []
    errors: list[RowError] = []
    for row in reader:
        line = reader.line_num
        if None in row:
            errors.append(RowError(line, "(row)", "more cells than header columns"))
            continue
        kind = (row.pop("type") or "").strip()
        if kind not in SECTIONS:
            errors.append(RowError(line, "type", f"{kind!r} is not one of {', '.join(SECTIONS)}"))
            continue
        values = {k: (v if v is not None and v.strip() != "" else None, line) for k, v in row.items()}
        known = PARSERS[SECTIONS[kind][1]]
        values = {k: v for k, v in values.items() if v[0] is not None or k in known}
        records.append(RawRecord(kind, line, values))
    return records, errors


# --- validation ---------------------------------------------------------------------------------------
@dataclass
class KnownCodes:
    """Codes already in the database, so references may point at them."""

    networks: set[str] = field(default_factory=set)
    plants: set[str] = field(default_factory=set)
    substations: set[str] = field(default_factory=set)
    network_sections: set[str] = field(default_factory=set)
    devices: set[str] = field(default_factory=set)
    meters: set[str] = field(default_factory=set)
    device_profiles: dict[str, str] = field(default_factory=dict)  # device code -> its profile's name


def parse_inventory(
    text: str, path: str, *, fmt: str | None = None, known: KnownCodes | None = None,
    profiles: Mapping[str, Profile] | None = None,
) -> Inventory:
    """Parse and validate an inventory file's text.

    Args:
        text: the file's content.
        path: its name, used in error messages and to choose the format (``.csv`` or YAML).
        fmt: ``"csv"`` or ``"yaml"`` to override the extension.
        known: codes already in the database that references may use.
        profiles: the device profiles that exist (None: the shipped ones); a meter's register
            capacities not declared are taken from its device's profile, and a meter left with no
            energy capacity (or, when its device reads volume, no volume capacity) is refused.

    Raises:
        ImportValidationError: every problem found, each with its line and field.
    """
    fmt = fmt or ("csv" if path.lower().endswith(".csv") else "yaml")
    records, errors = (read_csv_records if fmt == "csv" else read_yaml_records)(text)
    known = known or KnownCodes()
    profiles = load_profiles() if profiles is None else profiles
    inventory = Inventory()
    built: list[tuple[RawRecord, Any]] = []
    for rec in records:
        obj = _build(rec, errors, set(profiles))
        if obj is not None:
            built.append((rec, obj))
    built = with_capacities(built, profiles, known.device_profiles, errors)
    for rec, obj in built:
        getattr(inventory, SECTIONS[rec.kind][0]).append(obj)
    _check_unique_codes(records, errors)
    _check_unique_uses(built, errors)
    _check_references(built, records, known, errors)
    _check_section_tree(built, errors)
    if errors:
        raise ImportValidationError(path, sorted(errors, key=lambda e: (e.line, e.field)))
    return inventory


def _build(rec: RawRecord, errors: list[RowError], profiles: set[str] | None) -> Any:
    cls = SECTIONS[rec.kind][1]
    parsers = PARSERS[cls]
    found: list[RowError] = []
    kwargs: dict[str, Any] = {}
    for name, (raw, line) in rec.values.items():
        if name not in parsers:
            found.append(RowError(line, name, f"unknown field for a {rec.kind}"))
        elif raw is not None:
            try:
                kwargs[name] = parsers[name](raw)
            except ValueError as exc:
                found.append(RowError(line, name, str(exc)))
    for f in fields(cls):
        required = f.default is MISSING and f.default_factory is MISSING
        if required and rec.values.get(f.name, (None, 0))[0] is None:
            found.append(RowError(rec.line, f.name, f"required for a {rec.kind}"))
    if not found and cls in (Device, Meter) and sum(1 for k in ("substation", "plant") if kwargs.get(k)) != 1:
        found.append(RowError(rec.line, "substation/plant", "give exactly one of substation or plant"))
    if not found and cls is Device and profiles is not None and kwargs["profile"] not in profiles:
        found.append(RowError(rec.values["profile"][1], "profile",
                              f"unknown device profile {kwargs['profile']!r} (known: {', '.join(sorted(profiles))})"))
    errors.extend(found)
    return None if found else cls(**kwargs)


def _check_unique_codes(records: list[RawRecord], errors: list[RowError]) -> None:
    """A code appears once per record type (checked on every record, valid or not)."""
    seen: dict[tuple[str, str], int] = {}
    for rec in records:
        raw, line = rec.values.get("code", (None, rec.line))
        if raw is None:
            continue
        first = seen.setdefault((rec.kind, raw.strip()), rec.line)
        if first != rec.line:
            errors.append(RowError(line, "code", f"duplicate {rec.kind} code {raw.strip()!r} (first at line {first})"))


def _check_unique_uses(built: list[tuple[RawRecord, Any]], errors: list[RowError]) -> None:
    """A Modbus endpoint serves one device; a meter serves one delivery point."""
    endpoints: dict[tuple[str, int, int], int] = {}
    meters_used: dict[str, int] = {}
    for rec, obj in built:
        if isinstance(obj, Device):
            ep = (obj.host, obj.port, obj.unit_id)
            if ep in endpoints:
                errors.append(RowError(rec.line, "host/port/unit_id", f"endpoint {obj.host}:{obj.port} unit "
                                       f"{obj.unit_id} already used at line {endpoints[ep]}"))
            else:
                endpoints[ep] = rec.line
        if isinstance(obj, DeliveryPoint) and obj.meter:
            first = meters_used.setdefault(obj.meter, rec.line)
            if first != rec.line:
                errors.append(RowError(rec.values["meter"][1], "meter",
                                       f"meter {obj.meter!r} already serves the delivery point at line {first}"))


def _check_references(
    built: list[tuple[RawRecord, Any]], records: list[RawRecord], known: KnownCodes, errors: list[RowError]
) -> None:
    """Every reference names a record of the file (valid or not: a bad one is reported once, on its
    own line) or one already in the database."""
    in_file: dict[str, set[str]] = {kind: set() for kind in SECTIONS}
    for rec in records:
        raw = rec.values.get("code", (None, 0))[0]
        if raw is not None:
            in_file[rec.kind].add(raw.strip())
    codes = {
        "network": known.networks | in_file["network"],
        "plant": known.plants | in_file["plant"],
        "substation": known.substations | in_file["substation"],
        "device": known.devices | in_file["device"],
        "meter": known.meters | in_file["meter"],
        "network_section": known.network_sections | in_file["network_section"],
    }
    codes["parent"] = codes["network_section"]
    for rec, obj in built:
        for ref in ("network", "plant", "substation", "device", "meter", "network_section", "parent"):
            value = getattr(obj, ref, None)
            if value and value not in codes[ref]:
                errors.append(RowError(rec.values[ref][1], ref, f"unknown {ref} {value!r}"))


def _check_section_tree(built: list[tuple[RawRecord, Any]], errors: list[RowError]) -> None:
    """A section's parents never lead back to it (sections form a tree)."""
    parents = {obj.code: obj.parent for _rec, obj in built if isinstance(obj, NetworkSection)}
    for rec, obj in built:
        at, hops = (obj.parent, 0) if isinstance(obj, NetworkSection) else (None, 0)
        while at in parents and at != obj.code and hops <= len(parents):
            at, hops = parents[at], hops + 1
        if at is not None and at == obj.code:
            errors.append(RowError(rec.values["parent"][1], "parent", f"section {obj.code!r} is its own ancestor"))


# --- writers (export) ---------------------------------------------------------------------------------
def inventory_records(inv: Inventory) -> list[tuple[str, dict[str, Any]]]:
    """(type, fields) of every record, in dependency order, without empty fields."""
    out: list[tuple[str, dict[str, Any]]] = []
    for kind, (section, _cls) in SECTIONS.items():
        for obj in getattr(inv, section):
            values = {f.name: getattr(obj, f.name) for f in fields(obj)}
            out.append((kind, {k: v for k, v in values.items() if v is not None}))
    return out


def format_yaml(inv: Inventory) -> str:
    """The inventory as YAML, readable by :func:`parse_inventory`."""
    doc: dict[str, list[dict[str, Any]]] = {}
    for kind, values in inventory_records(inv):
        doc.setdefault(SECTIONS[kind][0], []).append(
            {k: (str(v) if isinstance(v, Decimal) else v) for k, v in values.items()}
        )
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def format_csv(inv: Inventory) -> str:
    """The inventory as CSV (one ``type`` column, the union of all fields)."""
    columns: list[str] = ["type"]
    for cls in PARSERS:
        columns += [f.name for f in fields(cls) if f.name not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for kind, values in inventory_records(inv):
        writer.writerow({"type": kind, **{k: ("true" if v is True else "false" if v is False else v)
                                          for k, v in values.items()}})
    return buf.getvalue()
