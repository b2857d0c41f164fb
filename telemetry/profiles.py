"""Device profiles: one YAML file per device type describing its Modbus register map.

A profile gives, per point: the canonical quantity it feeds (see :mod:`telemetry.quantities`) or a
free name; the function code (01-04); the address, in a map that is 0- or 1-based (``addressing``);
the data type; the word order and byte swap; a scale (a factor, a fraction such as ``"1/64"``, or a
unit register read at run time); the unit; sentinels meaning "no value"; a valid range; and for
counters the rollover value. Loading a bad profile raises :class:`ProfileError` naming the file, the
point and the field. The shipped profiles are in ``telemetry/profiles/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from telemetry.errors import ProfileError, UnknownProfileError
from telemetry.quantities import CANONICAL, CONVERSIONS

DATA_TYPES: dict[str, int] = {  # type -> registers (for 03/04) it spans
    "int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2, "float64": 4, "bits": 1,
}
ORDERS = ("ABCD", "CDAB", "BADC", "DCBA")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MAX_REGISTERS = 125  # Modbus limit for 03/04
MAX_BITS = 2000  # Modbus limit for 01/02


@dataclass(frozen=True)
class Point:
    """One value of a device, as read on the wire and turned into a physical quantity."""

    name: str
    function: int  # 1: coils, 2: discrete inputs, 3: holding registers, 4: input registers
    address: int  # 0-based wire address
    type: str
    order: str = "ABCD"
    factor: float = 1.0  # multiplies the raw value (scale × unit conversion)
    scale_register: str | None = None  # name of a point whose raw value selects a factor
    scale_map: dict[int, float] = field(default_factory=dict)  # raw unit code -> factor
    unit: str = ""
    sentinels: frozenset[int | float] = frozenset()
    valid_range: tuple[float, float] | None = None  # [canonical unit] (written in `unit` in the file)
    monotonic: bool = False
    rollover: float | None = None  # [canonical unit] counter wraps to 0 here (written in `unit` in the file)
    poll: str = "default"
    bit: int | None = None  # bit within a register (type bits on 03/04)

    @property
    def quantity(self) -> str | None:
        """The canonical quantity this point feeds, or None for a free name."""
        return self.name if self.name in CANONICAL else None

    @property
    def width(self) -> int:
        """Registers (03/04) or bits (01/02) the point spans on the wire."""
        return 1 if self.function in (1, 2) else DATA_TYPES[self.type]


@dataclass(frozen=True)
class Profile:
    """A device type's register map and polling rules."""

    name: str
    description: str
    points: tuple[Point, ...]
    poll_intervals: dict[str, float]  # poll group -> interval [s]
    max_block_registers: int = MAX_REGISTERS
    max_gap: int = 10  # registers read and discarded to merge two neighbouring points
    inter_request_delay_s: float = 0.0  # pause the device needs between frames [s]
    default_unit_id: int = 1

    def point(self, name: str) -> Point:
        for p in self.points:
            if p.name == name:
                return p
        raise KeyError(name)


# ------------------------------------------------------------------------------------------------
def load_profile(path: Path | str) -> Profile:
    """Load and validate one profile file.

    Raises:
        ProfileError: naming the file, the point and the field that is wrong.
    """
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(str(path), None, "(file)", f"cannot be read as YAML: {exc}") from exc
    return parse_profile(doc, str(path))


def parse_profile(doc: Any, source: str) -> Profile:
    """Validate a profile document (the parsed YAML)."""
    if not isinstance(doc, dict):
        raise ProfileError(source, None, "(file)", "expected a mapping")
    _known_keys(doc, {"name", "description", "addressing", "max_block_registers", "max_gap",
                      "inter_request_delay_s", "default_unit_id", "poll_groups", "points"}, source, None)
    name = doc.get("name")
    if not isinstance(name, str) or not re.match(r"^[a-z0-9][a-z0-9.-]{0,62}$", name):
        raise ProfileError(source, None, "name", f"{name!r} is not a profile name (lowercase, digits, '-', '.')")
    base = doc.get("addressing", 0)
    if base not in (0, 1):
        raise ProfileError(source, None, "addressing", f"{base!r}: must be 0 or 1 (the map's first register)")
    max_block = _int(doc.get("max_block_registers", MAX_REGISTERS), source, None, "max_block_registers", 1,
                     MAX_REGISTERS)
    max_gap = _int(doc.get("max_gap", 10), source, None, "max_gap", 0, 100)
    unit_id = _int(doc.get("default_unit_id", 1), source, None, "default_unit_id", 0, 255)
    delay = doc.get("inter_request_delay_s", 0.0)
    if not isinstance(delay, int | float) or not 0 <= delay <= 10:
        raise ProfileError(source, None, "inter_request_delay_s", f"{delay!r}: must be 0..10 seconds")
    groups = doc.get("poll_groups", {"default": 60})
    if not isinstance(groups, dict) or not groups or not all(
        isinstance(v, int | float) and 0.1 <= v <= 86400 for v in groups.values()
    ):
        raise ProfileError(source, None, "poll_groups", "a mapping of group name -> interval (0.1..86400 s)")
    raw_points = doc.get("points")
    if not isinstance(raw_points, list) or not raw_points:
        raise ProfileError(source, None, "points", "a non-empty list of points is required")
    points: list[Point] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_points):
        point = _parse_point(raw, i, base, groups, source)
        if point.name in seen:
            raise ProfileError(source, point.name, "name", "duplicate point name")
        seen.add(point.name)
        points.append(point)
    for p in points:
        if p.scale_register is not None:
            if p.scale_register not in seen:
                raise ProfileError(source, p.name, "scale.register", f"no point named {p.scale_register!r}")
            ref = next(q for q in points if q.name == p.scale_register)
            if ref.type not in ("int16", "uint16"):
                raise ProfileError(source, p.name, "scale.register", f"{ref.name!r} must be an int16/uint16 point")
    return Profile(name=name, description=str(doc.get("description", "")), points=tuple(points),
                   poll_intervals={str(k): float(v) for k, v in groups.items()}, max_block_registers=max_block,
                   max_gap=max_gap, inter_request_delay_s=float(delay), default_unit_id=unit_id)


def _parse_point(raw: Any, index: int, base: int, groups: dict[str, Any], source: str) -> Point:
    if not isinstance(raw, dict):
        raise ProfileError(source, f"#{index + 1}", "(point)", "expected a mapping")
    name = raw.get("name")
    label = name if isinstance(name, str) else f"#{index + 1}"
    _known_keys(raw, {"name", "function", "address", "type", "order", "scale", "unit", "sentinels", "range",
                      "counter", "poll", "bit"}, source, label)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ProfileError(source, label, "name", f"{name!r}: lowercase letters, digits and '_'")
    function = raw.get("function")
    if function not in (1, 2, 3, 4):
        raise ProfileError(source, name, "function", f"{function!r}: only read function codes 1-4 are allowed")
    address = _int(raw.get("address"), source, name, "address", base, 65535 + base) - base
    dtype = raw.get("type", "bits" if function in (1, 2) else None)
    if dtype not in DATA_TYPES:
        raise ProfileError(source, name, "type", f"{dtype!r}: one of {', '.join(DATA_TYPES)}")
    if function in (1, 2) and dtype != "bits":
        raise ProfileError(source, name, "type", f"function {function} reads bits: type must be 'bits'")
    bit = raw.get("bit")
    if function in (3, 4) and dtype == "bits":
        bit = _int(bit, source, name, "bit", 0, 15)
    elif bit is not None:
        raise ProfileError(source, name, "bit", "only for type 'bits' on registers (function 3 or 4)")
    order = raw.get("order", "ABCD")
    if order not in ORDERS:
        raise ProfileError(source, name, "order", f"{order!r}: one of {', '.join(ORDERS)}")
    unit = raw.get("unit", "")
    conversion = 1.0
    if name in CANONICAL:
        key = (str(unit), CANONICAL[name])
        if key not in CONVERSIONS:
            raise ProfileError(source, name, "unit", f"{unit!r} cannot express {name} (canonical unit "
                               f"{CANONICAL[name]!r})")
        conversion = CONVERSIONS[key]
    factor, scale_register, scale_map = _parse_scale(raw.get("scale", 1), source, name)
    sentinels = raw.get("sentinels", [])
    if not isinstance(sentinels, list) or not all(isinstance(s, int | float) for s in sentinels):
        raise ProfileError(source, name, "sentinels", "a list of raw values meaning 'no value'")
    valid = raw.get("range")
    if valid is not None and not (isinstance(valid, list) and len(valid) == 2
                                  and all(isinstance(v, int | float) for v in valid) and valid[0] < valid[1]):
        raise ProfileError(source, name, "range", f"{valid!r}: [min, max] with min < max")
    counter = raw.get("counter")
    rollover: float | None = None
    if counter is not None:
        if not isinstance(counter, dict) or set(counter) - {"rollover"}:
            raise ProfileError(source, name, "counter", "a mapping with an optional 'rollover' value")
        if dtype == "bits":
            raise ProfileError(source, name, "counter", "a bits point cannot be a counter")
        if "rollover" in counter:
            r = counter["rollover"]
            if not isinstance(r, int | float) or r <= 0:
                raise ProfileError(source, name, "counter.rollover", f"{r!r}: a positive value [canonical unit]")
            rollover = float(r)
    poll = raw.get("poll", next(iter(groups)))
    if poll not in groups:
        raise ProfileError(source, name, "poll", f"{poll!r}: not one of the poll_groups ({', '.join(groups)})")
    return Point(
        name=name, function=function, address=address, type=dtype, order=order,
        factor=factor * conversion, scale_register=scale_register,
        scale_map={k: v * conversion for k, v in scale_map.items()}, unit=str(unit),
        sentinels=frozenset(sentinels),
        valid_range=(float(valid[0]) * conversion, float(valid[1]) * conversion) if valid else None,
        monotonic=counter is not None, rollover=rollover * conversion if rollover else None, poll=str(poll), bit=bit,
    )


def _parse_scale(scale: Any, source: str, name: str) -> tuple[float, str | None, dict[int, float]]:
    """A factor (``0.1``), a fraction (``"1/64"``) or ``{register: point, factors: {code: factor}}``."""
    if isinstance(scale, bool):
        raise ProfileError(source, name, "scale", f"{scale!r} is not a number")
    if isinstance(scale, int | float):
        if scale == 0:
            raise ProfileError(source, name, "scale", "must not be 0")
        return float(scale), None, {}
    if isinstance(scale, str):
        try:
            value = Fraction(scale.replace(" ", ""))
        except (ValueError, ZeroDivisionError):
            raise ProfileError(source, name, "scale", f"{scale!r} is not a number or a fraction like '1/64'") from None
        if value == 0:
            raise ProfileError(source, name, "scale", "must not be 0")
        return float(value), None, {}
    if isinstance(scale, dict) and set(scale) == {"register", "factors"}:
        factors = scale["factors"]
        if not isinstance(factors, dict) or not factors or not all(
            isinstance(k, int) and isinstance(v, int | float) and v != 0 for k, v in factors.items()
        ):
            raise ProfileError(source, name, "scale.factors", "a mapping of unit-register value -> factor")
        return 1.0, str(scale["register"]), {int(k): float(v) for k, v in factors.items()}
    raise ProfileError(source, name, "scale", f"{scale!r}: a factor, a fraction, or {{register, factors}}")


def _int(value: Any, source: str, point: str | None, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ProfileError(source, point, name, f"{value!r}: an integer in {lo}..{hi}")
    return value


def _known_keys(doc: dict[str, Any], allowed: set[str], source: str, point: str | None) -> None:
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise ProfileError(source, point, unknown[0], f"unknown field (allowed: {', '.join(sorted(allowed))})")


# ------------------------------------------------------------------------------------------------
def shipped_profile_paths() -> dict[str, Path]:
    """The profiles shipped with the package, by name."""
    folder = resources.files("telemetry") / "profiles"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml")}


def load_profiles(extra_dirs: list[Path] | None = None) -> dict[str, Profile]:
    """The shipped profiles plus every ``*.yaml`` of ``extra_dirs`` (which may override them)."""
    paths = shipped_profile_paths()
    for folder in extra_dirs or []:
        paths.update({p.stem: p for p in sorted(folder.glob("*.yaml"))})
    profiles = {}
    for stem, path in paths.items():
        profile = load_profile(path)
        if profile.name != stem:
            raise ProfileError(str(path), None, "name", f"{profile.name!r} differs from the file name {stem!r}")
        profiles[profile.name] = profile
    return profiles


def get_profile(profiles: dict[str, Profile], name: str) -> Profile:
    try:
        return profiles[name]
    except KeyError:
        raise UnknownProfileError(f"unknown device profile {name!r} (known: {', '.join(sorted(profiles))})") from None
