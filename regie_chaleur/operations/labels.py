"""How operators read the measurements: each quantity's French name and unit, numbers in fr-FR format.

``measure("t_return_primary", 55.23)`` gives "température de retour primaire 55,2 °C", never
``t_return_primary`` or "retour 55.2".
"""

from __future__ import annotations

#: canonical quantity -> (French name, unit, decimals shown, grammatical gender)
QUANTITIES: dict[str, tuple[str, str, int, str]] = {
    "t_supply_primary": ("température de départ primaire", "°C", 1, "f"),
    "t_return_primary": ("température de retour primaire", "°C", 1, "f"),
    "t_supply_secondary": ("température de départ secondaire", "°C", 1, "f"),
    "t_return_secondary": ("température de retour secondaire", "°C", 1, "f"),
    "t_outdoor": ("température extérieure", "°C", 1, "f"),
    "flow": ("débit", "m³/h", 2, "m"),
    "power": ("puissance", "kW", 0, "f"),
    "energy": ("index d'énergie", "kWh", 0, "m"),
    "volume": ("index de volume", "m³", 1, "m"),
    "valve_position": ("ouverture de vanne", "%", 0, "f"),
    "pump_running": ("marche de la pompe", "", 0, "f"),
    "meter_error_code": ("code d'erreur du compteur", "", 0, "m"),
    "delta_t": ("ΔT primaire", "K", 1, "m"),
}

NBSP = "\u202f"  # narrow no-break space: thousands separator and before units, as French typography has it


def number(value: float, places: int = 1) -> str:
    """``value`` in fr-FR format: "1 234,5" (narrow no-break space between thousands)."""
    text = f"{value:,.{places}f}"
    return text.replace(",", NBSP).replace(".", ",")


def quantity(value: float, unit: str, places: int = 1) -> str:
    """A value with its unit: "55,2 °C", "0,62 m³/h", "130 kW"."""
    return f"{number(value, places)}{NBSP}{unit}" if unit else number(value, places)


def name(q: str) -> str:
    """The French name of a canonical quantity (the code itself for an unknown one)."""
    return QUANTITIES[q][0] if q in QUANTITIES else q


def measure(q: str, value: float) -> str:
    """"température de retour primaire 55,2 °C"."""
    label, unit, places, _ = QUANTITIES.get(q, (q, "", 1, "m"))
    return f"{label} {quantity(value, unit, places)}"


def value_of(q: str, value: float) -> str:
    """The value of quantity ``q`` with its unit: "55,2 °C"."""
    _, unit, places, _ = QUANTITIES.get(q, (q, "", 1, "m"))
    return quantity(value, unit, places)


def limit(q: str, value: float) -> str:
    """A threshold of quantity ``q`` as people write it: "55 °C", "0,5 m³/h" (no useless decimals)."""
    _, unit, places, _ = QUANTITIES.get(q, (q, "", 1, "m"))
    return quantity(value, unit, 0 if float(value).is_integer() else places)


def agree(q: str, masculine: str, feminine: str) -> str:
    """The word that agrees with quantity ``q``'s gender: ``agree("flow", "figé", "figée")`` -> "figé"."""
    return feminine if QUANTITIES.get(q, ("", "", 0, "m"))[3] == "f" else masculine


def duration(seconds: float) -> str:
    """"45 s", "12 min", "3 h 05", "2 j 4 h"."""
    if seconds < 90:
        return f"{seconds:.0f}{NBSP}s"
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"{minutes}{NBSP}min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}{NBSP}h{NBSP}{rest:02d}"
    days, hours = divmod(hours, 24)
    return f"{days}{NBSP}j{NBSP}{hours}{NBSP}h"
