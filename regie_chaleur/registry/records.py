"""The network registry's records (networks, plants, sections, substations, devices, meters, delivery points) and
the registry's own domain constants."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

#: what a production plant can be (the ``plants.kind`` check constraint holds the same list)
PLANT_KINDS = (
    "recovered_heat", "geothermal", "gas_boiler", "oil_boiler", "biomass_boiler", "chp",
    "heat_pump", "electric_boiler", "solar_thermal", "other",
)


@dataclass(frozen=True)
class Network:
    code: str
    name: str


@dataclass(frozen=True)
class Plant:
    code: str
    name: str
    network: str
    kind: str
    capacity_mw: Decimal  # [MW] thermal capacity
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True)
class NetworkSection:
    """A section of pipe: works on it cut it and every section below it (``parent`` is the section it
    hangs from; a root section may name the ``plant`` feeding it)."""

    code: str
    name: str
    network: str
    parent: str | None = None
    plant: str | None = None


@dataclass(frozen=True)
class Substation:
    code: str
    name: str
    network: str
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    network_section: str | None = None


@dataclass(frozen=True)
class Device:
    code: str
    host: str
    profile: str
    substation: str | None = None
    plant: str | None = None
    port: int = 502
    unit_id: int = 1
    enabled: bool = True


@dataclass(frozen=True)
class Meter:
    code: str
    device: str | None = None
    substation: str | None = None
    plant: str | None = None
    register_capacity_kwh: Decimal | None = None  # [kWh] value at which the energy register rolls over
    volume_capacity_m3: Decimal | None = None  # [m³] value at which the volume register rolls over


@dataclass(frozen=True)
class DeliveryPoint:
    code: str
    name: str
    substation: str
    meter: str | None = None
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None


@dataclass
class Inventory:
    """A whole inventory, in dependency order."""

    networks: list[Network] = field(default_factory=list)
    plants: list[Plant] = field(default_factory=list)
    network_sections: list[NetworkSection] = field(default_factory=list)
    substations: list[Substation] = field(default_factory=list)
    devices: list[Device] = field(default_factory=list)
    meters: list[Meter] = field(default_factory=list)
    delivery_points: list[DeliveryPoint] = field(default_factory=list)


SECTIONS: dict[str, tuple[str, type]] = {  # CSV type -> (YAML section, record class)
    "network": ("networks", Network),
    "plant": ("plants", Plant),
    "network_section": ("network_sections", NetworkSection),
    "substation": ("substations", Substation),
    "device": ("devices", Device),
    "meter": ("meters", Meter),
    "delivery_point": ("delivery_points", DeliveryPoint),
}
SECTION_TYPES = {section: kind for kind, (section, _) in SECTIONS.items()}
