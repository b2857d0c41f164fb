"""Operator pages about alarms: the list filtered by dates, severity, state, rule and substation (and its
CSV export), one alarm with its history, acknowledge and clear.

Alarm states as French supervision software names them: *apparue* (raised, not acknowledged),
*acquittée* (an operator has taken it), *disparue* (its condition is gone, or an operator closed it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from regie_chaleur.deps import DbDep, Offset, check_day
from regie_chaleur.operations import alarms as alarm_ops
from regie_chaleur.operations.rules import RULES
from regie_chaleur.web.authz import OperatorDep
from regie_chaleur.web.csv_export import cell, csv_response
from regie_chaleur.web.render import page

router = APIRouter(prefix="/exploitation", include_in_schema=False)
PARIS = ZoneInfo("Europe/Paris")
RULE_LABELS = {
    "comm_lost": "communication perdue", "invalid_data": "données invalides", "frozen_sensor": "capteur figé",
    "out_of_range": "valeur hors plage", "meter_error": "erreur compteur", "counter_backwards": "compteur qui recule",
    "return_too_high": "retour trop chaud", "delta_t_too_low": "ΔT trop faible en charge",
    "power_above_subscribed": "puissance au-delà de la souscription", "night_flow": "débit nocturne vanne fermée",
    "signature_anomaly": "écart à la signature",
}
STATE_LABELS = {"raised": "apparue", "acknowledged": "acquittée", "cleared": "disparue"}
SEVERITY_LABELS = {"critical": "critique", "warning": "avertissement", "info": "information"}
STATE_FILTERS = {"open": "en cours (apparues ou acquittées)", "raised": "apparues, non acquittées",
                 "acknowledged": "acquittées", "cleared": "disparues", "": "toutes"}
PAGE = 50


@dataclass(frozen=True)
class AlarmFilter:
    """What the operator asked for; ``errors`` says in French what could not be understood."""

    state: str = "open"
    severity: str = ""
    rule: str = ""
    substation: str = ""
    first: date | None = None  # Europe/Paris days, both included
    last: date | None = None
    errors: tuple[str, ...] = ()

    def query(self) -> str:
        """The filter as a query string (for links and the CSV export)."""
        return (f"etat={self.state}&gravite={self.severity}&regle={self.rule}&sous_station={self.substation}"
                f"&du={self.first.isoformat() if self.first else ''}&au={self.last.isoformat() if self.last else ''}")


def parse_filter(etat: str, gravite: str, regle: str, sous_station: str, du: str, au: str) -> AlarmFilter:
    errors = []
    dates: list[date | None] = []
    for label, text in (("du", du), ("au", au)):
        try:
            dates.append(check_day(date.fromisoformat(text)) if text else None)
        except ValueError:
            errors.append(f"date « {label} » illisible : {text[:20]} (attendu AAAA-MM-JJ)")
            dates.append(None)
    first, last = dates
    if first and last and last < first:
        errors.append("la date de fin précède la date de début")
    return AlarmFilter(etat if etat in STATE_FILTERS else "open", gravite if gravite in SEVERITY_LABELS else "",
                       regle if regle in RULES else "", sous_station.strip(), first, last, tuple(errors))


def read_alarms(conn: Any, f: AlarmFilter, limit: int = PAGE, offset: int = 0) -> dict[str, Any]:
    """A page of the alarms matching ``f`` (newest first) and their count."""
    where = """WHERE (%(state)s = '' OR a.state = %(state)s OR (%(state)s = 'open' AND a.state <> 'cleared'))
                 AND (%(sev)s = '' OR a.severity = %(sev)s) AND (%(rule)s = '' OR a.rule = %(rule)s)
                 AND (%(sub)s = '' OR s.code = %(sub)s)
                 AND (%(lo)s::timestamptz IS NULL OR a.raised_at >= %(lo)s)
                 AND (%(hi)s::timestamptz IS NULL OR a.raised_at < %(hi)s)"""
    params = {"state": f.state, "sev": f.severity, "rule": f.rule, "sub": f.substation, "limit": limit,
              "offset": offset, "lo": _day_start(f.first), "hi": _day_start(f.last + timedelta(days=1) if f.last
                                                                            else None)}
    base = " FROM alarms a LEFT JOIN substations s ON s.id = a.substation_id LEFT JOIN devices d ON d.id = a.device_id "
    total = conn.execute("SELECT count(*)" + base + where, params).fetchone()
    rows = conn.execute("SELECT a.id, s.code, d.code, a.rule, a.severity, a.state, a.message, a.raised_at, "
                        "a.last_seen_at, a.acknowledged_at, a.acknowledged_by, a.ack_comment, a.cleared_at, a.value, "
                        "a.threshold" + base + where
                        + " ORDER BY a.raised_at DESC, a.id DESC LIMIT %(limit)s OFFSET %(offset)s", params).fetchall()
    return {"rows": rows, "total": int(total[0]) if total else 0}


def _day_start(day: date | None) -> datetime | None:
    return datetime.combine(day, datetime.min.time(), PARIS) if day else None


FilterQuery = Annotated[str, Query(max_length=64)]


@router.get("/alarmes", response_class=HTMLResponse)
def alarms(request: Request, db: DbDep, principal: OperatorDep, etat: FilterQuery = "open", gravite: FilterQuery = "",
           regle: FilterQuery = "", sous_station: FilterQuery = "", du: FilterQuery = "", au: FilterQuery = "",
           offset: Offset = 0) -> HTMLResponse:
    f = parse_filter(etat, gravite, regle, sous_station, du, au)
    with db.pool.connection() as conn:
        found = read_alarms(conn, f, offset=offset)
    return page(request, "operations/alarms.html", status_code=422 if f.errors else 200, title="Alarmes", f=f,
                offset=offset, limit=PAGE, rule_labels=RULE_LABELS, state_labels=STATE_LABELS,
                severity_labels=SEVERITY_LABELS, state_filters=STATE_FILTERS, rules=list(RULE_LABELS), **found)


@router.get("/alarmes.csv")
def alarms_csv(db: DbDep, principal: OperatorDep, etat: FilterQuery = "open", gravite: FilterQuery = "",
               regle: FilterQuery = "", sous_station: FilterQuery = "", du: FilterQuery = "",
               au: FilterQuery = "") -> Response:
    """The alarms matching the filter, all of them (up to 100,000), as French Excel opens them."""
    f = parse_filter(etat, gravite, regle, sous_station, du, au)
    if f.errors:
        raise HTTPException(422, " ; ".join(f.errors))
    with db.pool.connection() as conn:
        rows = read_alarms(conn, f, limit=100_000)["rows"]
    header = ["n°", "apparue le", "sous-station", "appareil", "règle", "gravité", "état", "message", "valeur",
              "seuil", "unité", "acquittée le", "acquittée par", "commentaire", "disparue le"]
    return csv_response("alarmes.csv", header, (
        [cell(r[0]), cell(r[7]), cell(r[1]), cell(r[2]), RULE_LABELS.get(r[3], r[3]), SEVERITY_LABELS.get(r[4], r[4]),
         STATE_LABELS.get(r[5], r[5]), r[6], cell(r[13]), cell(r[14]), RULES[r[3]].unit if r[3] in RULES else "",
         cell(r[9]), cell(r[10]), cell(r[11]), cell(r[12])] for r in rows))


@router.get("/alarmes/{alarm_id}", response_class=HTMLResponse)
def alarm(request: Request, db: DbDep, principal: OperatorDep, alarm_id: int) -> HTMLResponse:
    with db.pool.connection() as conn:
        found = conn.execute("SELECT a.id, s.code, d.code, a.rule, a.severity, a.state, a.message, a.value, "
                             "a.threshold, a.raised_at FROM alarms a LEFT JOIN substations s ON s.id = a.substation_id "
                             "LEFT JOIN devices d ON d.id = a.device_id WHERE a.id = %s", (alarm_id,)).fetchone()
        if found is None:
            raise HTTPException(404, "alarme inconnue")
        events = conn.execute("SELECT at, event, by_whom, comment FROM alarm_events WHERE alarm_id = %s "
                              "ORDER BY at, id", (alarm_id,)).fetchall()
        order = conn.execute("SELECT work_order_id FROM work_order_alarms WHERE alarm_id = %s", (alarm_id,)).fetchone()
    unit = RULES[found[3]].unit if found[3] in RULES else ""
    return page(request, "operations/alarm.html", title=f"Alarme {alarm_id}", a=found, events=events,
                rule_labels=RULE_LABELS, state_labels=STATE_LABELS, unit=unit, order=order[0] if order else None)


@router.post("/alarmes/{alarm_id}/{action}")
def alarm_action(request: Request, db: DbDep, principal: OperatorDep, alarm_id: int, action: str,
                 commentaire: Annotated[str, Form(max_length=2000)] = "", retour: Annotated[str, Form()] = "") -> Any:
    if action not in ("acquitter", "clore"):
        raise HTTPException(404, "action inconnue")
    with db.pool.connection() as conn:
        try:
            if action == "acquitter":
                alarm_ops.acknowledge(conn, alarm_id, principal.login, commentaire, datetime.now(UTC))
            else:
                alarm_ops.clear(conn, alarm_id, principal.login, commentaire, datetime.now(UTC))
        except alarm_ops.AlarmStateError as exc:
            raise HTTPException(409, str(exc)) from exc
    back = retour if retour.startswith("/exploitation/") else "/exploitation/alarmes"
    sep = "&" if "?" in back else "?"
    return RedirectResponse(f"{back}{sep}ok=alarm-{'acknowledged' if action == 'acquitter' else 'cleared'}",
                            status_code=303)
