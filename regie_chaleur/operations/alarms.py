"""Alarm evaluation over the whole fleet, and the alarm life cycle.

One pass (:func:`evaluate_alarms`) computes every rule's value for every device in two set-based
queries, applies each rule's threshold with hysteresis against the open alarms, and in one
transaction raises new alarms, refreshes the open ones and clears those whose condition has gone.
An alarm is deduplicated (at most one open per device or substation and rule, a unique index), moves
raised → acknowledged (by whom, when, comment) → cleared, and keeps its history in ``alarm_events``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from models.detection import Threshold
from regie_chaleur.operations.rules import GOOD_ROW, RULES, TEMPERATURES, params_for

log = logging.getLogger(__name__)
PARIS = ZoneInfo("Europe/Paris")

Key = tuple[int | None, int | None, str]  # (substation_id, device_id, rule)


class AlarmStateError(Exception):
    """An acknowledge or clear that the alarm's state does not allow (e.g. already cleared)."""


@dataclass(frozen=True)
class Observation:
    key: Key
    value: float | None
    detail: str = ""


@dataclass(frozen=True)
class PassResult:
    raised: list[int]
    cleared: list[int]
    open: int
    observations: int


def _recent_metrics_sql() -> str:
    out_of_range = " OR ".join(f"{q}_q = 2" for q in (*TEMPERATURES, "flow", "power", "energy", "volume"))
    frozen = ", ".join(
        f"count({q}) FILTER (WHERE {q}_q = 0) AS {q}_n, "
        f"max({q}) FILTER (WHERE {q}_q = 0) - min({q}) FILTER (WHERE {q}_q = 0) AS {q}_ptp"
        for q in TEMPERATURES)
    return f"""
    SELECT s.device_id, d.substation_id,
           count(*) FILTER (WHERE time > %(now)s - make_interval(mins => %(oor_min)s) AND ({out_of_range})),
           (array_agg(meter_error_code ORDER BY time DESC)
               FILTER (WHERE meter_error_code_q = 0 AND time > %(now)s - make_interval(mins => %(err_min)s)))[1],
           count(*) FILTER (WHERE energy_q = 3 AND time > %(now)s - make_interval(mins => %(back_min)s)),
           avg(t_return_primary) FILTER (WHERE t_return_primary_q = 0 AND time > %(now)s - interval '1 hour'),
           avg(t_supply_primary) FILTER (WHERE t_supply_primary_q = 0 AND time > %(now)s - interval '1 hour'),
           avg(power) FILTER (WHERE power_q = 0 AND time > %(now)s - interval '1 hour'),
           avg(flow) FILTER (WHERE flow_q = 0 AND time > %(now)s - interval '1 hour'),
           avg(valve_position) FILTER (WHERE valve_position_q = 0 AND time > %(now)s - interval '1 hour'),
           {frozen}
    FROM substation_samples s JOIN devices d ON d.id = s.device_id
    WHERE s.time > %(now)s - interval '2 hours' AND s.time <= %(now)s
    GROUP BY s.device_id, d.substation_id
    """


LAST_GOOD_SQL = f"""
SELECT d.id, d.substation_id,
       (SELECT max(s.time) FROM substation_samples s
        WHERE s.device_id = d.id AND s.time > %(now)s - interval '1 day' AND s.time <= %(now)s AND {GOOD_ROW})
FROM devices d WHERE d.enabled AND d.substation_id IS NOT NULL
"""

SUBSCRIBED_SQL = """
SELECT m.device_id, dp.subscribed_power_kw FROM delivery_points dp JOIN meters m ON m.id = dp.meter_id
WHERE dp.subscribed_power_kw IS NOT NULL AND m.device_id IS NOT NULL
"""


def read_overrides(conn: psycopg.Connection) -> dict[tuple[int | None, str], dict[str, Any]]:
    return {(r[0], r[1]): r[2] for r in conn.execute("SELECT substation_id, rule, params FROM alarm_thresholds")}


def observe(conn: psycopg.Connection, now: datetime,
            overrides: dict[tuple[int | None, str], dict[str, Any]]) -> list[Observation]:
    """Every rule's value for every device/substation at ``now`` (None: no data, state kept)."""
    glob = {name: params_for(name, overrides, None) for name in RULES}
    obs: list[Observation] = []
    for device_id, substation_id, last_good in conn.execute(LAST_GOOD_SQL, {"now": now}):
        interval = float(params_for("comm_lost", overrides, substation_id)["interval_s"])
        age = (now - last_good).total_seconds() if last_good else 86400.0
        detail = (f"dernier relevé valide il y a {age / 60:.0f} min" if last_good
                  else "aucun relevé valide depuis 24 h ou plus")
        obs.append(Observation((substation_id, device_id, "comm_lost"), age / interval, detail))
    subscribed: dict[int, Any] = dict(conn.execute(SUBSCRIBED_SQL).fetchall())
    night: dict[int, list[tuple[float | None, float | None]]] = {}
    rows = conn.execute(_recent_metrics_sql(), {
        "now": now, "oor_min": int(glob["out_of_range"]["window_min"]),
        "err_min": int(glob["meter_error"]["window_min"]), "back_min": int(glob["counter_backwards"]["window_min"])})
    for row in rows:
        device_id, sub_id, oor, err, backwards, t_ret, t_sup, power, flow, valve = row[:10]
        key = (sub_id, device_id)
        obs.append(Observation((*key, "out_of_range"), float(oor), f"{oor} valeur(s) hors plage"))
        obs.append(Observation((*key, "meter_error"), None if err is None else float(err != 0),
                               f"code {err}"))
        obs.append(Observation((*key, "counter_backwards"), float(backwards), f"{backwards} relevé(s) en recul"))
        frozen = []
        for i, q in enumerate(TEMPERATURES):
            n, ptp = row[10 + 2 * i], row[11 + 2 * i]
            if n and n >= int(params_for("frozen_sensor", overrides, sub_id)["samples"]) and ptp is not None \
                    and ptp <= 1e-6:
                frozen.append(q)
        has_temps = any(row[10 + 2 * i] for i in range(len(TEMPERATURES)))
        obs.append(Observation((*key, "frozen_sensor"), float(bool(frozen)) if has_temps else None,
                               ", ".join(frozen)))
        loaded = power is not None and power >= float(params_for("return_too_high", overrides, sub_id)["min_power_kw"])
        obs.append(Observation((*key, "return_too_high"), t_ret if loaded and t_ret is not None else None,
                               f"retour {t_ret:.1f} °C" if t_ret is not None else ""))
        delta = t_sup - t_ret if t_sup is not None and t_ret is not None else None
        obs.append(Observation((*key, "delta_t_too_low"), delta if loaded else None,
                               f"ΔT {delta:.1f} K" if delta is not None else ""))
        if device_id in subscribed and power is not None:
            ratio = power / float(subscribed[device_id])
            obs.append(Observation((*key, "power_above_subscribed"), ratio,
                                   f"{power:.0f} kW pour {float(subscribed[device_id]):.0f} kW souscrits"))
        if sub_id is not None:
            night.setdefault(sub_id, []).append((flow, valve))
    local_hour = now.astimezone(PARIS).hour
    for sub_id, parts in night.items():
        p = params_for("night_flow", overrides, sub_id)
        if not int(p["start_hour"]) <= local_hour < int(p["end_hour"]):
            obs.append(Observation((sub_id, None, "night_flow"), None))
            continue
        flows = [f for f, _ in parts if f is not None]
        valves = [v for _, v in parts if v is not None]
        if not flows or not valves:
            obs.append(Observation((sub_id, None, "night_flow"), None))
            continue
        value = max(flows) if max(valves) <= float(p["valve_max_pct"]) else 0.0
        obs.append(Observation((sub_id, None, "night_flow"), value,
                               f"débit {max(flows):.2f} m³/h, vanne {max(valves):.0f} %"))
    return obs


def evaluate_alarms(conn: psycopg.Connection, now: datetime,
                    notify: Callable[[list[dict[str, Any]]], None] | None = None) -> PassResult:
    """One evaluation pass over the whole fleet at ``now``; returns what changed.

    New alarms are handed to ``notify`` after the transaction committed.
    """
    overrides = read_overrides(conn)
    return apply_observations(conn, observe(conn, now, overrides), now, overrides, notify)


def apply_observations(conn: psycopg.Connection, observations: list[Observation], now: datetime,
                       overrides: dict[tuple[int | None, str], dict[str, Any]],
                       notify: Callable[[list[dict[str, Any]]], None] | None = None) -> PassResult:
    """Raise, refresh or clear alarms from observations, in one transaction (hysteresis per rule)."""
    rules_seen = {o.key[2] for o in observations}
    open_alarms = {(r[1], r[2], r[3]): r[0] for r in conn.execute(
        "SELECT id, substation_id, device_id, rule FROM alarms WHERE state <> 'cleared'") if r[3] in rules_seen}
    raised: list[int] = []
    cleared: list[int] = []
    new_alarms: list[dict[str, Any]] = []
    with conn.transaction(), conn.cursor() as cur:
        for o in observations:
            sub_id, _device_id, rule_name = o.key
            rule = RULES[rule_name]
            p = params_for(rule_name, overrides, sub_id)
            threshold = Threshold(float(p["raise_at"]), float(p["clear_at"]), rule.direction)
            alarm_id = open_alarms.get(o.key)
            active = alarm_id is not None
            now_active = threshold.next_state(active, o.value)
            if not active and now_active:
                message = f"{rule.label} : {o.detail}".strip(" :")
                alarm_row = cur.execute(
                    """INSERT INTO alarms (substation_id, device_id, rule, severity, state, message, value,
                           threshold, raised_at, last_seen_at)
                       VALUES (%s, %s, %s, %s, 'raised', %s, %s, %s, %s, %s) RETURNING id""",
                    (*o.key, rule.severity, message, o.value, threshold.raise_at, now, now)).fetchone()
                new_id = int(alarm_row[0])  # type: ignore[index]
                cur.execute("INSERT INTO alarm_events (alarm_id, at, event, by_whom) "
                            "VALUES (%s, %s, 'raised', 'system')", (new_id, now))
                raised.append(new_id)
                new_alarms.append({"id": new_id, "rule": rule_name, "severity": rule.severity,
                                   "message": message, "substation_id": sub_id, "device_id": o.key[1],
                                   "value": o.value, "raised_at": now.isoformat()})
            elif active and now_active:
                cur.execute("UPDATE alarms SET last_seen_at = %s, value = %s WHERE id = %s", (now, o.value, alarm_id))
            elif active and not now_active:
                cur.execute("UPDATE alarms SET state = 'cleared', cleared_at = %s, cleared_by = 'system' WHERE id = %s",
                            (now, alarm_id))
                cur.execute("INSERT INTO alarm_events (alarm_id, at, event, by_whom, comment) "
                            "VALUES (%s, %s, 'cleared', 'system', 'condition disparue')", (alarm_id, now))
                cleared.append(int(alarm_id))  # type: ignore[arg-type]
    if notify is not None and new_alarms:
        subs: dict[int, str] = dict(conn.execute("SELECT id, code FROM substations").fetchall())
        devs: dict[int, str] = dict(conn.execute("SELECT id, code FROM devices").fetchall())
        for a in new_alarms:
            a["substation"], a["device"] = subs.get(a["substation_id"]), devs.get(a["device_id"])
        notify(new_alarms)
    still_open = len(open_alarms) + len(raised) - len(cleared)
    return PassResult(raised, cleared, still_open, len(observations))


def acknowledge(conn: psycopg.Connection, alarm_id: int, by: str, comment: str, now: datetime) -> None:
    """raised → acknowledged, with who, when and why.

    Raises:
        AlarmStateError: the alarm does not exist or is not in the raised state.
    """
    with conn.transaction():
        row = conn.execute("UPDATE alarms SET state = 'acknowledged', acknowledged_at = %s, acknowledged_by = %s, "
                           "ack_comment = %s WHERE id = %s AND state = 'raised' RETURNING id",
                           (now, by, comment, alarm_id)).fetchone()
        if row is None:
            raise AlarmStateError(f"alarm {alarm_id} is not raised (unknown, acknowledged or cleared)")
        conn.execute("INSERT INTO alarm_events (alarm_id, at, event, by_whom, comment) "
                     "VALUES (%s, %s, 'acknowledged', %s, %s)", (alarm_id, now, by, comment))


def clear(conn: psycopg.Connection, alarm_id: int, by: str, comment: str, now: datetime) -> None:
    """raised/acknowledged → cleared by an operator (it is raised again if the condition persists).

    Raises:
        AlarmStateError: the alarm does not exist or is already cleared.
    """
    with conn.transaction():
        row = conn.execute("UPDATE alarms SET state = 'cleared', cleared_at = %s, cleared_by = %s "
                           "WHERE id = %s AND state <> 'cleared' RETURNING id", (now, by, alarm_id)).fetchone()
        if row is None:
            raise AlarmStateError(f"alarm {alarm_id} is not open (unknown or already cleared)")
        conn.execute("INSERT INTO alarm_events (alarm_id, at, event, by_whom, comment) "
                     "VALUES (%s, %s, 'cleared', %s, %s)", (alarm_id, now, by, comment))


def set_threshold(conn: psycopg.Connection, rule: str, params: dict[str, Any],
                  substation_id: int | None = None) -> None:
    """Override a rule's parameters for one substation (or for all when ``substation_id`` is None)."""
    if rule not in RULES:
        raise KeyError(f"unknown rule {rule!r} (known: {', '.join(RULES)})")
    unknown = set(params) - set(RULES[rule].defaults)
    if unknown:
        known = ", ".join(RULES[rule].defaults)
        raise KeyError(f"rule {rule!r} has no parameter {sorted(unknown)[0]!r} (known: {known})")
    conn.execute("INSERT INTO alarm_thresholds (substation_id, rule, params) VALUES (%s, %s, %s) "
                 "ON CONFLICT (substation_id, rule) DO UPDATE SET params = EXCLUDED.params",
                 (substation_id, rule, json.dumps(params)))


def evaluate_signature_anomalies(conn: psycopg.Connection, day: date, now: datetime,
                                 notify: Callable[[list[dict[str, Any]]], None] | None = None) -> PassResult:
    """The daily signature check: a substation whose energy of ``day`` is outside its signature's band
    (fitted on the year before) raises ``signature_anomaly``; a normal day clears it."""
    from models.errors import ModelError
    from regie_chaleur.operations.signatures import substation_signature

    overrides = read_overrides(conn)
    observations = []
    for sub_id, code in conn.execute("SELECT id, code FROM substations ORDER BY id").fetchall():
        k = float(params_for("signature_anomaly", overrides, sub_id)["k_sigma"])
        try:
            report = substation_signature(conn, code, day - timedelta(days=365), day, recent_from=day, k=k)
        except ModelError:
            continue
        hit = [a for a in report.anomalous_days if a[0] == day]
        detail = (f"{hit[0][1]:.0f} kWh le {day:%d/%m/%Y} pour {hit[0][2]:.0f} kWh attendus" if hit else "")
        observations.append(Observation((sub_id, None, "signature_anomaly"), 1.0 if hit else 0.0, detail))
    return apply_observations(conn, observations, now, overrides, notify)
