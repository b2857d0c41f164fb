"""The live state of the substations, as an operator must be able to trust it.

Per device, two instants are read from the samples (a backward index probe each):

- its **last answer**: the last row with any value that is not a communication error (the device
  answered, whatever it said);
- its **last good reading**: the last row with at least one good value.

A substation is

- **hors ligne** (``offline``, "pas de réponse") when none of its devices has answered for the
  ``comm_lost`` rule's threshold (``raise_at`` poll intervals of ``interval_s``: 3 × 60 s by default);
- **données invalides** (``invalid``) when a device answers but none has given a valid value for as long;
- **en alarme** (``alarm``) when it has open alarms; **en ligne** (``online``) otherwise.

Its values (temperatures, power) are those of the last good readings (the mean of each device's good
values in the two minutes up to its last good reading; power summed over its meters). "Dernière
mesure" is the last good reading; values older than the threshold are ``stale``: shown with their age,
never as current, and left out of the network's totals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import psycopg

from regie_chaleur.operations.rules import QUALITY_COLUMNS, params_for, read_overrides

Status = Literal["online", "offline", "invalid", "alarm"]
RECENT = timedelta(hours=1)  # read in one scan for the whole page
LOOKBACK = timedelta(days=2)  # how far back a device's last answer and last good reading are looked for
VALUE_SPAN = "2 minutes"  # a device's blocks are read within one poll interval of each other
ANSWERED = f"LEAST({', '.join(QUALITY_COLUMNS)}) < 5"  # LEAST ignores NULLs: any value not a comm error
GOOD = f"LEAST({', '.join(QUALITY_COLUMNS)}) = 0"  # at least one good value


@dataclass(frozen=True)
class SubstationStatus:
    code: str
    name: str
    network: str
    status: Status
    last_seen: datetime | None  # last good reading ("dernière mesure")
    last_answer: datetime | None  # last answer of any of its devices, valid or not
    stale: bool  # the values below are older than the offline threshold: not current
    t_supply_primary: float | None  # [°C] at the last good reading
    t_return_primary: float | None  # [°C] at the last good reading (flow-weighted over meters)
    delta_t: float | None  # [K]
    power_kw: float | None  # [kW] at the last good reading, summed over its meters
    subscribed_power_kw: float | None  # [kW]
    open_alarms: int
    offline_after_s: float  # [s] silence after which it is offline

    def age_s(self, now: datetime) -> float | None:
        """[s] since the last good reading."""
        return (now - self.last_seen).total_seconds() if self.last_seen else None


RECENT_COLUMNS = ", ".join(f"s.{c}" for c in dict.fromkeys((
    "device_id", "time", "t_supply_primary", "t_return_primary", "power", "flow", *QUALITY_COLUMNS)))
VALUES = """avg(s.t_supply_primary) FILTER (WHERE s.t_supply_primary_q = 0) AS t_sup,
               avg(s.t_return_primary) FILTER (WHERE s.t_return_primary_q = 0) AS t_ret,
               avg(s.power) FILTER (WHERE s.power_q = 0) AS power,
               avg(s.flow) FILTER (WHERE s.flow_q = 0) AS flow"""
#: the last hour in one scan (what almost every device has); a device silent or invalid for longer is
#: looked up further back (two days) with an index probe of its own. Bounds are passed as values, so
#: that the planner excludes the chunks outside them at plan time.
STATUS_SQL = f"""
WITH page AS (
    SELECT id, code, name, network FROM substations
    WHERE (%(code)s::text IS NULL AND (code ILIKE %(p)s OR name ILIKE %(p)s)) OR code = %(code)s
    ORDER BY code LIMIT %(limit)s OFFSET %(offset)s
), fleet AS MATERIALIZED (
    SELECT d.substation_id, d.id AS device_id FROM page JOIN devices d ON d.substation_id = page.id AND d.enabled
), recent AS MATERIALIZED (
    SELECT {RECENT_COLUMNS} FROM fleet f JOIN substation_samples s ON s.device_id = f.device_id
    WHERE s.time > %(hour_ago)s AND s.time <= %(now)s
), seen AS MATERIALIZED (
    SELECT s.device_id, max(s.time) FILTER (WHERE {ANSWERED}) AS last_answer,
           max(s.time) FILTER (WHERE {GOOD}) AS last_good
    FROM recent s GROUP BY s.device_id
), probe AS MATERIALIZED (
    SELECT f.substation_id, f.device_id, coalesce(n.last_answer, a.time) AS last_answer,
           coalesce(n.last_good, g.time) AS last_good, n.last_good IS NOT NULL AS good_recently
    FROM fleet f LEFT JOIN seen n ON n.device_id = f.device_id
    LEFT JOIN LATERAL (SELECT s.time FROM substation_samples s
                       WHERE n.last_answer IS NULL AND s.device_id = f.device_id AND s.time <= %(hour_ago)s
                         AND s.time > %(since)s AND {ANSWERED} ORDER BY s.time DESC LIMIT 1) a ON true
    LEFT JOIN LATERAL (SELECT s.time FROM substation_samples s
                       WHERE n.last_good IS NULL AND s.device_id = f.device_id AND s.time <= %(hour_ago)s
                         AND s.time > %(since)s AND {GOOD} ORDER BY s.time DESC LIMIT 1) g ON true
), per_device AS MATERIALIZED (  -- the values around each device's last good reading
    SELECT p.substation_id, p.device_id, p.last_answer, p.last_good, w.t_sup, w.t_ret, w.power, w.flow
    FROM probe p LEFT JOIN (
        SELECT s.device_id, {VALUES} FROM recent s JOIN seen n ON n.device_id = s.device_id
        WHERE s.time > n.last_good - interval '{VALUE_SPAN}' AND s.time <= n.last_good GROUP BY s.device_id
    ) w ON w.device_id = p.device_id AND p.good_recently
    UNION ALL
    SELECT p.substation_id, p.device_id, p.last_answer, p.last_good, w.t_sup, w.t_ret, w.power, w.flow
    FROM probe p JOIN LATERAL (
        SELECT {VALUES} FROM substation_samples s
        WHERE s.device_id = p.device_id AND s.time > p.last_good - interval '{VALUE_SPAN}' AND s.time <= p.last_good
          AND s.time > %(since)s - interval '{VALUE_SPAN}' AND s.time <= %(hour_ago)s) w ON true
    WHERE NOT p.good_recently AND p.last_good IS NOT NULL
)
SELECT page.id, page.code, page.name, page.network, max(v.last_answer), max(v.last_good),
       avg(v.t_sup), sum(v.t_ret * v.flow) / nullif(sum(v.flow) FILTER (WHERE v.t_ret IS NOT NULL), 0),
       avg(v.t_ret), sum(v.power), max(dps.subscribed), coalesce(max(al.open), 0)
FROM page LEFT JOIN per_device v ON v.substation_id = page.id
LEFT JOIN (SELECT substation_id, sum(subscribed_power_kw) AS subscribed FROM delivery_points GROUP BY 1) dps
       ON dps.substation_id = page.id
LEFT JOIN (SELECT substation_id, count(*) AS open FROM alarms WHERE state <> 'cleared' GROUP BY 1) al
       ON al.substation_id = page.id
GROUP BY page.id, page.code, page.name, page.network ORDER BY page.code
"""


def substation_statuses(conn: psycopg.Connection, now: datetime, limit: int = 100, offset: int = 0,
                        search: str | None = None, code: str | None = None) -> tuple[list[SubstationStatus], int]:
    """A page of substations with their live status, and the total count.

    Args:
        search: part of a code or a name (case-insensitive).
        code: exactly this substation (``search`` is then ignored).
    """
    overrides = read_overrides(conn)
    pattern = f"%{search}%" if search else "%"
    total_row = conn.execute("SELECT count(*) FROM substations WHERE (%(code)s::text IS NULL AND "
                             "(code ILIKE %(p)s OR name ILIKE %(p)s)) OR code = %(code)s",
                             {"p": pattern, "code": code}).fetchone()
    rows = conn.execute(STATUS_SQL, {"p": pattern, "code": code, "limit": limit, "offset": offset, "now": now,
                                     "hour_ago": now - RECENT, "since": now - LOOKBACK}).fetchall()
    out = []
    fleet_wide = params_for("comm_lost", overrides, None)
    for sub_id, code, name, network, answer, good, t_sup, t_ret_fw, t_ret, power, subscribed, alarms in rows:
        p = params_for("comm_lost", overrides, sub_id) if (sub_id, "comm_lost") in overrides else fleet_wide
        after = float(p["raise_at"]) * float(p["interval_s"])
        t_return = t_ret_fw if t_ret_fw is not None else t_ret
        out.append(SubstationStatus(
            code, name, network, _status(now, answer, good, int(alarms), after), good, answer,
            good is None or (now - good).total_seconds() > after, t_sup, t_return,
            t_sup - t_return if t_sup is not None and t_return is not None else None, power,
            float(subscribed) if subscribed is not None else None, int(alarms), after))
    return out, int(total_row[0]) if total_row else 0


def _status(now: datetime, answer: datetime | None, good: datetime | None, alarms: int, after_s: float) -> Status:
    if answer is None or (now - answer).total_seconds() > after_s:
        return "offline"
    if good is None or (now - good).total_seconds() > after_s:
        return "invalid"
    return "alarm" if alarms else "online"


def network_summary(statuses: list[SubstationStatus]) -> dict[str, Any]:
    """The overview's counts and current totals, from fresh values only.

    Returns: ``total``, ``online`` (answering with valid values, alarms or not), ``offline``,
    ``invalid``, ``load_kw`` [kW] (sum of the current power), ``t_supply`` and ``t_return`` [°C]
    (means over the substations with current values), ``stale`` (substations whose values are old).
    """
    current = [s for s in statuses if not s.stale]

    def mean(values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return sum(present) / len(present) if present else None

    powers = [s.power_kw for s in current if s.power_kw is not None]
    return {"total": len(statuses), "online": sum(s.status in ("online", "alarm") for s in statuses),
            "offline": sum(s.status == "offline" for s in statuses),
            "invalid": sum(s.status == "invalid" for s in statuses),
            "stale": len(statuses) - len(current),
            "load_kw": sum(powers) if powers else None,
            "t_supply": mean([s.t_supply_primary for s in current]),
            "t_return": mean([s.t_return_primary for s in current])}
