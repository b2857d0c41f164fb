"""Meter register capacities: the value at which each register rolls over, as declared in the registry or
known from the device's profile. The energy and volume rollups need them to count a wrap."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

import psycopg

from regie_chaleur.errors import RowError
from regie_chaleur.registry.records import Device, Meter
from telemetry.profiles import Profile


def with_capacities(built: list[tuple[Any, Any]], profiles: Mapping[str, Profile],
                     known_devices: Mapping[str, str], errors: list[RowError]) -> list[tuple[Any, Any]]:
    """Meters with their register capacities: as declared, else their device's profile's rollover
    values; a meter left without what its rollups need is reported (and kept out)."""
    device_profile = {**known_devices, **{obj.code: obj.profile for _, obj in built if isinstance(obj, Device)}}
    out = []
    for rec, obj in built:
        if not isinstance(obj, Meter):
            out.append((rec, obj))
            continue
        profile = profiles.get(device_profile.get(obj.device or "", ""))
        energy, volume = _rollover(profile, "energy"), _rollover(profile, "volume")
        meter = replace(obj, register_capacity_kwh=obj.register_capacity_kwh or energy,
                        volume_capacity_m3=obj.volume_capacity_m3 or volume)
        if meter.register_capacity_kwh is None:
            errors.append(RowError(rec.line, "register_capacity_kwh", "no energy register capacity: declare it (the "
                                   "meter's nameplate) or give the meter a device whose profile knows it"))
            continue
        if meter.volume_capacity_m3 is None and profile is not None and _reads(profile, "volume"):
            errors.append(RowError(rec.line, "volume_capacity_m3", f"no volume register capacity: declare it (profile "
                                   f"{profile.name!r} has none)"))
            continue
        out.append((rec, meter))
    return out


def _rollover(profile: Profile | None, quantity: str) -> Decimal | None:
    """[canonical unit] the value at which ``quantity``'s register rolls over, from the profile."""
    if profile is None or not _reads(profile, quantity):
        return None
    value = profile.point(quantity).rollover
    return Decimal(repr(value)) if value is not None else None


def _reads(profile: Profile, quantity: str) -> bool:
    return any(p.name == quantity for p in profile.points)


def fill_meter_capacities(conn: psycopg.Connection, profiles: Mapping[str, Profile]) -> int:
    """Give the meters registered without capacities their device's profile values (meters imported
    before the registry required them); returns the meters completed."""
    done = 0
    rows = conn.execute("SELECT m.id, d.profile, m.register_capacity_kwh, m.volume_capacity_m3 FROM meters m "
                        "JOIN devices d ON d.id = m.device_id "
                        "WHERE m.register_capacity_kwh IS NULL OR m.volume_capacity_m3 IS NULL").fetchall()
    for meter_id, profile_name, energy, volume in rows:
        profile = profiles.get(profile_name)
        if profile is None:
            continue
        points = {p.name: p.rollover for p in profile.points}
        new_energy = energy or points.get("energy")
        new_volume = volume or points.get("volume")
        if (new_energy, new_volume) != (energy, volume):
            conn.execute("UPDATE meters SET register_capacity_kwh = %s, volume_capacity_m3 = %s WHERE id = %s",
                         (new_energy, new_volume, meter_id))
            done += 1
    return done
