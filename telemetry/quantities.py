"""Canonical substation quantities, their units, and unit conversions.

Canonical quantities go to the wide table ``substation_samples`` (one column each); any other point
name goes to the narrow table ``device_samples``.
"""

from __future__ import annotations

#: canonical quantity -> canonical unit
CANONICAL: dict[str, str] = {
    "t_supply_primary": "°C",
    "t_return_primary": "°C",
    "t_supply_secondary": "°C",
    "t_return_secondary": "°C",
    "t_outdoor": "°C",
    "flow": "m³/h",
    "power": "kW",
    "energy": "kWh",
    "volume": "m³",
    "valve_position": "%",
    "pump_running": "",
    "meter_error_code": "",
}

#: (unit as written in a profile, canonical unit) -> factor to the canonical unit
CONVERSIONS: dict[tuple[str, str], float] = {
    ("°C", "°C"): 1.0, ("C", "°C"): 1.0,
    ("m³/h", "m³/h"): 1.0, ("m3/h", "m³/h"): 1.0, ("l/h", "m³/h"): 0.001,
    ("kW", "kW"): 1.0, ("W", "kW"): 0.001, ("MW", "kW"): 1000.0,
    ("kWh", "kWh"): 1.0, ("Wh", "kWh"): 0.001, ("MWh", "kWh"): 1000.0, ("GJ", "kWh"): 277.777_777_777_777_8,
    ("m³", "m³"): 1.0, ("m3", "m³"): 1.0, ("l", "m³"): 0.001,
    ("%", "%"): 1.0,
    ("", ""): 1.0,
}


def conversion_factor(unit: str, quantity: str) -> float:
    """Factor turning a value in ``unit`` into the canonical unit of ``quantity``.

    Raises:
        KeyError: the unit cannot express that quantity.
    """
    return CONVERSIONS[(unit, CANONICAL[quantity])]
