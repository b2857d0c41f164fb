"""Fault-detection rules: what each measures, its default thresholds and severity.

Each rule computes one value per device (or substation) from the recent samples, set-based in SQL for
the whole fleet at once, and a :class:`models.detection.Threshold` with hysteresis decides whether it is
active. Thresholds are overridable per substation (table ``alarm_thresholds``: ``params`` JSON with
``raise_at``, ``clear_at`` and the rule's own parameters; a row with no substation overrides the
default for all).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg

from telemetry.samples import WIDE_QUANTITIES

#: every quality column of the wide samples (a NULL quality: the quantity was not read in that row)
QUALITY_COLUMNS = tuple(f"{q}_q" for q in WIDE_QUANTITIES)
TEMPERATURES = ("t_supply_primary", "t_return_primary", "t_supply_secondary", "t_return_secondary", "t_outdoor")
#: quantities the frozen-sensor rule watches
FROZEN_QUANTITIES = (*TEMPERATURES, "flow", "power")


@dataclass(frozen=True)
class Rule:
    name: str
    severity: Literal["info", "warning", "critical"]
    direction: Literal["above", "below"]
    defaults: dict[str, Any] = field(default_factory=dict)
    unit: str = ""  # of the value and threshold, as shown to operators
    label: str = ""  # French, for operators


RULES: dict[str, Rule] = {r.name: r for r in (
    Rule("comm_lost", "critical", "above", {"raise_at": 3, "clear_at": 1.5, "interval_s": 60}, "intervalles",
         "Communication perdue"),
    Rule("invalid_data", "warning", "above", {"raise_at": 3, "clear_at": 1.5, "interval_s": 60}, "intervalles",
         "Données invalides"),
    # frozen: bit-identical over ``window_min`` while the quantity should move: it moved in the window
    # before (at least ``min_distinct`` distinct values, ``min_distinct_<quantity>`` for one quantity), or
    # the other outdoor sensors of its network moved by ``peer_motion_k`` [K] meanwhile
    Rule("frozen_sensor", "warning", "above", {"raise_at": 0.5, "clear_at": 0.5, "window_min": 60, "min_samples": 10,
                                               "min_distinct": 6, "min_distinct_power": 10, "min_distinct_flow": 10,
                                               "peer_motion_k": 0.5}, "", "Capteur figé"),
    Rule("out_of_range", "warning", "above", {"raise_at": 0.5, "clear_at": 0.5, "window_min": 15}, "valeurs",
         "Valeur hors plage"),
    Rule("meter_error", "warning", "above", {"raise_at": 0.5, "clear_at": 0.5, "window_min": 30}, "code",
         "Code erreur compteur"),
    Rule("counter_backwards", "warning", "above", {"raise_at": 0.5, "clear_at": 0.5, "window_min": 60}, "relevés",
         "Index d'énergie en recul"),
    Rule("return_too_high", "warning", "above", {"raise_at": 55.0, "clear_at": 52.0, "min_power_kw": 20.0}, "°C",
         "Température de retour trop élevée"),
    Rule("delta_t_too_low", "warning", "below", {"raise_at": 20.0, "clear_at": 23.0, "min_power_kw": 20.0}, "K",
         "ΔT primaire trop faible"),
    Rule("power_above_subscribed", "info", "above", {"raise_at": 1.0, "clear_at": 0.95}, "× puissance souscrite",
         "Puissance au-dessus de la puissance souscrite"),
    Rule("night_flow", "warning", "above", {"raise_at": 0.5, "clear_at": 0.2, "valve_max_pct": 3.0,
                                            "start_hour": 1, "end_hour": 5}, "m³/h",
         "Débit nocturne sans demande (fuite ou vanne bloquée ?)"),
    Rule("signature_anomaly", "info", "above", {"raise_at": 0.5, "clear_at": 0.5, "k_sigma": 3.0}, "",
         "Consommation hors signature"),
)}


class Overrides(dict[tuple[int | None, str], dict[str, Any]]):
    """The ``alarm_thresholds`` rows, (substation id or None, rule) -> parameters, with the parameters
    they give remembered: a pass asks for them thousands of times."""

    def __init__(self, rows: Any = ()) -> None:
        super().__init__(rows)
        self.memo: dict[tuple[str, int | None], dict[str, Any]] = {}


def read_overrides(conn: psycopg.Connection) -> Overrides:
    """The ``alarm_thresholds`` rows: (substation id or None, rule) -> parameters."""
    rows = conn.execute("SELECT substation_id, rule, params FROM alarm_thresholds")
    return Overrides({(r[0], r[1]): r[2] for r in rows})


def params_for(rule: str, overrides: dict[tuple[int | None, str], dict[str, Any]], substation_id: int | None
               ) -> dict[str, Any]:
    """A rule's parameters for one substation: defaults, then the global row, then the substation's (a
    shared dictionary: read it, never change it)."""
    own = substation_id if substation_id is not None and (substation_id, rule) in overrides else None
    memo = overrides.memo if isinstance(overrides, Overrides) else None
    if memo is not None and (rule, own) in memo:
        return memo[(rule, own)]
    out = dict(RULES[rule].defaults)
    out.update(overrides.get((None, rule), {}))
    if own is not None:
        out.update(overrides.get((own, rule), {}))
    if memo is not None:
        memo[(rule, own)] = out
    return out
