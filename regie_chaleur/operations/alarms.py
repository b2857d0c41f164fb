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
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from models.detection import Threshold
from regie_chaleur.operations import labels
from regie_chaleur.operations.live import ANSWERED, GOOD
from regie_chaleur.operations.rules import FROZEN_QUANTITIES, RULES, TEMPERATURES, params_for, read_overrides

log = logging.getLogger(__name__)
PARIS = ZoneInfo("Europe/Paris")

Key = tuple[int | None, int | None, str]  # (substation_id, device_id, rule)


class AlarmStateError(Exception):
    """An acknowledge or clear that the alarm's state does not allow (e.g. already cleared)."""


@dataclass(frozen=True)
class Observation:
    key: Key
    value: float | None
    detail: str | Callable[[], str] = ""  # French; a callable is only called when an alarm is raised

    def message(self) -> str:
        return self.detail() if callable(self.detail) else self.detail


@dataclass(frozen=True)
class PassResult:
    raised: list[int]
    cleared: list[int]
    open: int
    observations: int


def _recent_metrics_sql(window_min: int) -> str:
    """Per device over the last ``2 × window_min`` minutes (2 hours at least): the values the rules
    judge, and for each watched quantity its good samples, spread and last value over the frozen
    window, and its distinct values over the window before."""
    out_of_range = " OR ".join(f"{q}_q = 2" for q in (*TEMPERATURES, "flow", "power", "energy", "volume"))
    win = f"time > %(now)s - make_interval(mins => {window_min})"
    frozen = ", ".join(
        f"count({q}) FILTER (WHERE {q}_q = 0 AND {win}) AS {q}_n, "
        f"max({q}) FILTER (WHERE {q}_q = 0 AND {win}) - min({q}) FILTER (WHERE {q}_q = 0 AND {win}) AS {q}_ptp, "
        f"(array_agg({q} ORDER BY time DESC) FILTER (WHERE {q}_q = 0 AND {win}))[1] AS {q}_last, "
        f"count(DISTINCT {q}) FILTER (WHERE {q}_q = 0 AND NOT ({win})) AS {q}_before"
        for q in FROZEN_QUANTITIES)
    span = max(120, 2 * window_min)
    return f"""
    SELECT s.device_id, d.substation_id, sub.network,
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
    FROM substation_samples s JOIN devices d ON d.id = s.device_id LEFT JOIN substations sub ON sub.id = d.substation_id
    WHERE s.time > %(now)s - make_interval(mins => {span}) AND s.time <= %(now)s
    GROUP BY s.device_id, d.substation_id, sub.network
    """


#: each device's last answer and last good reading: the last hour in one scan, further back (two days)
#: an index probe per device silent or invalid for longer; bounds as values (chunks excluded when planned)
LAST_SQL = f"""
WITH seen AS MATERIALIZED (
    SELECT s.device_id, max(s.time) FILTER (WHERE {ANSWERED}) AS answer, max(s.time) FILTER (WHERE {GOOD}) AS good
    FROM substation_samples s WHERE s.time > %(hour_ago)s AND s.time <= %(now)s GROUP BY s.device_id
)
SELECT d.id, d.substation_id, coalesce(n.answer, a.time), coalesce(n.good, g.time)
FROM devices d LEFT JOIN seen n ON n.device_id = d.id
LEFT JOIN LATERAL (SELECT s.time FROM substation_samples s
                   WHERE n.answer IS NULL AND s.device_id = d.id AND s.time <= %(hour_ago)s AND s.time > %(since)s
                     AND {ANSWERED} ORDER BY s.time DESC LIMIT 1) a ON true
LEFT JOIN LATERAL (SELECT s.time FROM substation_samples s
                   WHERE n.good IS NULL AND s.device_id = d.id AND s.time <= %(hour_ago)s AND s.time > %(since)s
                     AND {GOOD} ORDER BY s.time DESC LIMIT 1) g ON true
WHERE d.enabled AND d.substation_id IS NOT NULL
"""

SUBSCRIBED_SQL = """
SELECT m.device_id, dp.subscribed_power_kw FROM delivery_points dp JOIN meters m ON m.id = dp.meter_id
WHERE dp.subscribed_power_kw IS NOT NULL AND m.device_id IS NOT NULL
"""
NEVER_S = 2 * 86400.0  # [s] how far back the last answer is looked for


def observe(conn: psycopg.Connection, now: datetime,
            overrides: dict[tuple[int | None, str], dict[str, Any]]) -> list[Observation]:
    """Every rule's value for every device/substation at ``now`` (None: cannot tell, state kept)."""
    glob = {name: params_for(name, overrides, None) for name in RULES}
    obs = _communication(conn, now, overrides)
    subscribed: dict[int, Any] = dict(conn.execute(SUBSCRIBED_SQL).fetchall())
    night: dict[int, list[tuple[float | None, float | None]]] = {}
    window = int(glob["frozen_sensor"]["window_min"])
    rows = conn.execute(_recent_metrics_sql(window), {
        "now": now, "oor_min": int(glob["out_of_range"]["window_min"]),
        "err_min": int(glob["meter_error"]["window_min"]), "back_min": int(glob["counter_backwards"]["window_min"])
    }).fetchall()
    peers = _outdoor_motion(rows, int(glob["frozen_sensor"]["min_samples"]))
    for row in rows:
        device_id, sub_id, network, oor, err, backwards, t_ret, t_sup, power, flow, valve = row[:11]
        key = (sub_id, device_id)
        obs.append(Observation((*key, "out_of_range"), float(oor), f"{oor} relevé(s) hors plage"))
        obs.append(Observation((*key, "meter_error"), None if err is None else float(err != 0),
                               f"le compteur signale le code {err}"))
        obs.append(Observation((*key, "counter_backwards"), float(backwards),
                               f"{backwards} relevé(s) d'index en recul"))
        obs.append(_frozen((*key, "frozen_sensor"), row[11:], params_for("frozen_sensor", overrides, sub_id),
                           peers.get(network), window))
        p_ret = params_for("return_too_high", overrides, sub_id)
        loaded = power is not None and power >= float(p_ret["min_power_kw"])
        obs.append(Observation((*key, "return_too_high"), t_ret if loaded and t_ret is not None else None,
                               partial(_hourly_detail, "t_return_primary", t_ret, float(p_ret["raise_at"]))))
        delta = t_sup - t_ret if t_sup is not None and t_ret is not None else None
        p_dt = params_for("delta_t_too_low", overrides, sub_id)
        obs.append(Observation((*key, "delta_t_too_low"), delta if loaded else None,
                               partial(_hourly_detail, "delta_t", delta, float(p_dt["raise_at"]))))
        if device_id in subscribed and power is not None:
            kw = float(subscribed[device_id])
            obs.append(Observation((*key, "power_above_subscribed"), power / kw,
                                   partial(_power_detail, power, kw)))
        if sub_id is not None:
            night.setdefault(sub_id, []).append((flow, valve))
    obs += _night_flow(night, now, overrides)
    return obs


def _hourly_detail(quantity: str, value: float | None, limit: float) -> str:
    """« 72,4 °C en moyenne sur une heure (seuil 70 °C) » (French, for the alarm's message)."""
    if value is None:
        return ""
    return f"{labels.measure(quantity, value)} en moyenne sur une heure (seuil {labels.limit(quantity, limit)})"


def _power_detail(power: float, subscribed_kw: float) -> str:
    return (f"{labels.measure('power', power)} en moyenne sur une heure pour "
            f"{labels.quantity(subscribed_kw, 'kW', 0)} souscrits")


def _communication(conn: psycopg.Connection, now: datetime,
                   overrides: dict[tuple[int | None, str], dict[str, Any]]) -> list[Observation]:
    """``comm_lost`` (no answer at all) and ``invalid_data`` (answers, but no valid value), per device,
    in poll intervals since the last answer and since the last good reading."""
    out = []
    bounds = {"now": now, "hour_ago": now - timedelta(hours=1), "since": now - timedelta(seconds=NEVER_S)}
    for device_id, substation_id, last_answer, last_good in conn.execute(LAST_SQL, bounds):
        lost = params_for("comm_lost", overrides, substation_id)
        interval = float(lost["interval_s"])
        silent = (now - last_answer).total_seconds() if last_answer else NEVER_S
        threshold = labels.duration(float(lost["raise_at"]) * interval)
        detail = (f"aucune réponse depuis {labels.duration(silent)} (seuil {threshold})" if last_answer
                  else "aucune réponse depuis 2 jours ou plus")
        out.append(Observation((substation_id, device_id, "comm_lost"), silent / interval, detail))
        answering = silent / interval < float(lost["raise_at"])
        invalid = params_for("invalid_data", overrides, substation_id)
        since_good = (now - last_good).total_seconds() if last_good else NEVER_S
        out.append(Observation(
            (substation_id, device_id, "invalid_data"),
            since_good / float(invalid["interval_s"]) if answering else 0.0,
            f"l'appareil répond, mais aucune valeur valide depuis {labels.duration(since_good)} (seuil "
            f"{labels.duration(float(invalid['raise_at']) * float(invalid['interval_s']))})"))
    return out


def _outdoor_motion(rows: list[Any], min_samples: int) -> dict[str, float]:
    """Per network: the median spread [K] of the outdoor sensors over the frozen window."""
    spreads: dict[str, list[float]] = {}
    i = 11 + 4 * FROZEN_QUANTITIES.index("t_outdoor")
    for row in rows:
        n, ptp = row[i], row[i + 1]
        if row[2] is not None and n and n >= min_samples and ptp is not None:
            spreads.setdefault(row[2], []).append(float(ptp))
    return {net: statistics.median(values) for net, values in spreads.items()}


def _frozen(key: Key, values: tuple[Any, ...], p: dict[str, Any], peer_motion: float | None,
            window_min: int) -> Observation:
    """1 when a quantity is bit-identical over the window while it should move; 0 when every watched
    quantity moves; None when one is merely steady (cannot tell: the state is kept)."""
    frozen: list[str] = []
    steady = False
    seen = False
    for i, q in enumerate(FROZEN_QUANTITIES):
        n, ptp, last, before = values[4 * i: 4 * i + 4]
        if not n or n < int(p["min_samples"]) or ptp is None:
            continue
        seen = True
        if ptp > 0:
            continue
        lively = before >= int(p.get(f"min_distinct_{q}", p["min_distinct"]))
        peers_moved = q == "t_outdoor" and peer_motion is not None and peer_motion >= float(p["peer_motion_k"])
        stuck = (f"{labels.name(q)} {labels.agree(q, 'figé', 'figée')} à {labels.value_of(q, float(last))} "
                 f"depuis {window_min} min")
        if lively:
            frozen.append(f"{stuck} alors {labels.agree(q, 'qu’il', 'qu’elle')} variait ({before} valeurs "
                          f"distinctes les {window_min} min d'avant)")
        elif peers_moved:
            frozen.append(f"{stuck} alors que les autres sondes du réseau ont varié de "
                          f"{labels.quantity(peer_motion or 0.0, 'K')}")
        else:
            steady = True
    if frozen:
        return Observation(key, 1.0, " ; ".join(frozen))
    return Observation(key, None if steady or not seen else 0.0, "")


def _night_flow(night: dict[int, list[tuple[float | None, float | None]]], now: datetime,
                overrides: dict[tuple[int | None, str], dict[str, Any]]) -> list[Observation]:
    local_hour = now.astimezone(PARIS).hour
    out = []
    for sub_id, parts in night.items():
        p = params_for("night_flow", overrides, sub_id)
        flows = [f for f, _ in parts if f is not None]
        valves = [v for _, v in parts if v is not None]
        if not int(p["start_hour"]) <= local_hour < int(p["end_hour"]) or not flows or not valves:
            out.append(Observation((sub_id, None, "night_flow"), None))
            continue
        value = max(flows) if max(valves) <= float(p["valve_max_pct"]) else 0.0
        out.append(Observation((sub_id, None, "night_flow"), value,
                               f"{labels.measure('flow', max(flows))} la nuit, "
                               f"{labels.measure('valve_position', max(valves))} "
                               f"(seuil {labels.limit('flow', float(p['raise_at']))})"))
    return out


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
    still: list[tuple[int | None, float | None]] = []  # alarms still true: one statement for all of them
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
                message = f"{rule.label} : {o.message()}".strip(" :")
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
                still.append((alarm_id, o.value))
            elif active and not now_active:
                cur.execute("UPDATE alarms SET state = 'cleared', cleared_at = %s, cleared_by = 'system' WHERE id = %s",
                            (now, alarm_id))
                cur.execute("INSERT INTO alarm_events (alarm_id, at, event, by_whom, comment) "
                            "VALUES (%s, %s, 'cleared', 'system', 'condition disparue')", (alarm_id, now))
                cleared.append(int(alarm_id))  # type: ignore[arg-type]
        if still:
            cur.execute("UPDATE alarms a SET last_seen_at = %s, value = u.value FROM unnest(%s::bigint[], "
                        "%s::float8[]) AS u(id, value) WHERE a.id = u.id",
                        (now, [i for i, _ in still], [v for _, v in still]))
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
            raise AlarmStateError(f"l'alarme {alarm_id} n'est pas à acquitter (inconnue, déjà acquittée ou disparue)")
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
            raise AlarmStateError(f"l'alarme {alarm_id} n'est plus en cours (inconnue ou déjà disparue)")
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
