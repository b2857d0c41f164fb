"""Meter readings entered from the application, each audited (who, when, why).

- A reading entered by hand is an agent's (``manual``), the subscriber's own (``subscriber``), or an
  agent's ``correction`` of a wrong index (it then wins over every other reading of that instant,
  remote ones included). It stands for a boundary: the local midnight (Europe/Paris) starting the day
  given; when it was actually read is kept beside it.
- Plausibility: an index below the meter's previous one (no rollover in sight), or a consumption since
  the previous index above the subscribed power × the hours between them × the policy's factor, is a
  warning: the reading is saved only once confirmed, never silently.
- A meter replacement (``meter_changes``) is wired by the application (the new meter is the registry's):
  :mod:`regie_chaleur.services.meters`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg

from billing import fr
from billing.errors import BillingError, FieldError, ValidationError
from billing.runs import audit

PARIS = ZoneInfo("Europe/Paris")
KINDS = ("manual", "subscriber", "correction")
KIND_LABELS = {"manual": "relevé d'un agent", "subscriber": "relevé de l'abonné", "correction": "correction d'index"}


class PlausibilityWarning(BillingError):
    """A reading that looks wrong: saved only when confirmed (``warnings`` in French)."""

    def __init__(self, warnings: list[str]) -> None:
        self.warnings = warnings
        super().__init__("à confirmer : " + " ; ".join(warnings))


@dataclass(frozen=True)
class SavedReading:
    reading_id: int
    at: datetime  # the boundary it stands for
    warnings: tuple[str, ...]  # confirmed warnings


def boundary_of(day: date) -> datetime:
    """The instant (aware) of the local midnight starting ``day`` in Europe/Paris."""
    return datetime.combine(day, time(0), PARIS)


def record_reading(conn: psycopg.Connection, meter_code: str, day: date, index_kwh: Decimal, kind: str, reason: str,
                   *, actor: str, read_at: datetime | None = None, confirm: bool = False) -> SavedReading:
    """Record the index of ``meter_code`` at the start of ``day``.

    Args:
        kind: ``manual``, ``subscriber`` or ``correction``.
        reason: why (a correction must say what was wrong).
        read_at: when it was actually read (default: the boundary).
        confirm: save despite plausibility warnings.

    Raises:
        ValidationError: unknown meter, negative index, unknown kind, missing reason.
        PlausibilityWarning: when not confirmed and the reading looks wrong.
    """
    errors = []
    meter = conn.execute("SELECT m.id, m.register_capacity_kwh, dp.id, dp.subscribed_power_kw FROM meters m "
                         "LEFT JOIN delivery_points dp ON dp.meter_id = m.id WHERE m.code = %s",
                         (meter_code,)).fetchone()
    if meter is None:
        errors.append(FieldError("meter", f"compteur {meter_code} inconnu"))
    if index_kwh < 0:
        errors.append(FieldError("index_kwh", "un index ne peut être négatif"))
    if kind not in KINDS:
        errors.append(FieldError("kind", "relevé d'un agent, de l'abonné, ou correction d'index"))
    if kind == "correction" and not reason.strip():
        errors.append(FieldError("reason", "obligatoire pour une correction : ce qui était faux"))
    if read_at is not None and read_at.tzinfo is None:
        errors.append(FieldError("read_at", "l'heure du relevé doit porter son fuseau"))
    if errors:
        raise ValidationError(errors)
    assert meter is not None  # noqa: S101
    at = boundary_of(day)
    warnings = plausibility(conn, int(meter[0]), at, index_kwh, meter[1], meter[3])
    if warnings and not confirm:
        raise PlausibilityWarning(warnings)
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO meter_readings (meter_id, at, index_kwh, kind, source, entered_by, reason, read_at) "
            "VALUES (%s, %s, %s, %s, 'saisie', %s, %s, %s) ON CONFLICT (meter_id, at, kind) DO UPDATE SET "
            "index_kwh = EXCLUDED.index_kwh, entered_by = EXCLUDED.entered_by, reason = EXCLUDED.reason, "
            "read_at = EXCLUDED.read_at RETURNING id",
            (meter[0], at, index_kwh, kind, actor, reason.strip() or None, read_at or at)).fetchone()
        assert row is not None  # noqa: S101
        audit(conn, actor, "reading_corrected" if kind == "correction" else "reading_entered", "meter",
              int(meter[0]), {"at": at.isoformat(), "index_kwh": str(index_kwh), "kind": kind, "reason": reason,
                              "warnings": warnings})
    return SavedReading(int(row[0]), at, tuple(warnings))


def plausibility(conn: psycopg.Connection, meter_id: int, at: datetime, index_kwh: Decimal,
                 capacity_kwh: Decimal | None, subscribed_kw: Decimal | None) -> list[str]:
    """What looks wrong about ``index_kwh`` at ``at`` against the meter's previous reading (French)."""
    previous = conn.execute(
        "SELECT at, index_kwh FROM meter_readings WHERE meter_id = %s AND at < %s "
        "ORDER BY at DESC, CASE kind WHEN 'correction' THEN 0 WHEN 'manual' THEN 1 WHEN 'actual' THEN 2 ELSE 3 END "
        "LIMIT 1", (meter_id, at)).fetchone()
    if previous is None:
        return []
    before_at, before = previous[0], Decimal(previous[1])
    out = []
    step = index_kwh - before
    if step < 0:
        wrapped = capacity_kwh is not None and before - index_kwh > Decimal(capacity_kwh) / 2
        if not wrapped:
            out.append(f"l'index {fr.number(index_kwh)} kWh est inférieur au précédent "
                       f"({fr.number(before)} kWh le {before_at.astimezone(PARIS):%d/%m/%Y})")
        else:
            step += Decimal(capacity_kwh or 0)
    factor = conn.execute("SELECT implausible_factor FROM billing_policy").fetchone()
    hours = Decimal(str((at - before_at).total_seconds() / 3600))
    if subscribed_kw is not None and step > 0 and hours > 0:
        ceiling = Decimal(subscribed_kw) * hours * Decimal(factor[0] if factor else "1.5")
        if step > ceiling:
            out.append(f"{fr.number(step)} kWh depuis le {before_at.astimezone(PARIS):%d/%m/%Y}, au-delà de "
                       f"{fr.number(ceiling.quantize(Decimal(1)))} kWh possibles (puissance souscrite × heures × "
                       f"{fr.number(Decimal(factor[0] if factor else '1.5'))})")
    return out
