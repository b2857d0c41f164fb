"""Wires a meter replacement: the new meter in the registry, billing's meter change (the old meter's final
index, the new one's initial index), and the delivery point's meter, in one transaction, audited."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import psycopg

from billing.errors import FieldError, ValidationError
from billing.runs import audit


def replace_meter(conn: psycopg.Connection, delivery_point: str, at: datetime, old_final_kwh: Decimal,
                  new_serial: str, new_initial_kwh: Decimal, *, actor: str,
                  capacity_kwh: Decimal | None = None) -> int:
    """The meter of ``delivery_point`` replaced at instant ``at`` (aware); returns the change's id.

    Args:
        new_serial: the new meter's code (its serial number); created when not registered yet, with
            ``capacity_kwh`` (default: the old meter's).

    Raises:
        ValidationError: every problem, nothing written.
    """
    errors = []
    point = conn.execute("SELECT dp.id, dp.meter_id, m.register_capacity_kwh, m.substation_id FROM delivery_points dp "
                         "LEFT JOIN meters m ON m.id = dp.meter_id WHERE dp.code = %s", (delivery_point,)).fetchone()
    if point is None:
        errors.append(FieldError("delivery_point", f"point de livraison {delivery_point} inconnu"))
    elif point[1] is None:
        errors.append(FieldError("delivery_point", "aucun compteur n'y est posé : rattacher d'abord le compteur"))
    if old_final_kwh < 0 or new_initial_kwh < 0:
        errors.append(FieldError("index_kwh", "un index ne peut être négatif"))
    if at.tzinfo is None:
        errors.append(FieldError("at", "l'instant du remplacement doit porter son fuseau"))
    new = conn.execute("SELECT m.id, dp.code FROM meters m LEFT JOIN delivery_points dp ON dp.meter_id = m.id "
                       "WHERE m.code = %s", (new_serial,)).fetchone()
    if new is not None and new[1] is not None:
        errors.append(FieldError("new_serial", f"le compteur {new_serial} équipe déjà {new[1]}"))
    if point is not None and new is not None and new[0] == point[1]:
        errors.append(FieldError("new_serial", "c'est le compteur déjà posé"))
    if errors:
        raise ValidationError(errors)
    assert point is not None  # noqa: S101
    with conn.transaction():
        new_id = int(new[0]) if new is not None else int(conn.execute(  # type: ignore[index]
            "INSERT INTO meters (code, substation_id, register_capacity_kwh, volume_capacity_m3) "
            "SELECT %s, %s, %s, volume_capacity_m3 FROM meters WHERE id = %s RETURNING id",
            (new_serial, point[3], capacity_kwh or point[2], point[1])).fetchone()[0])
        row = conn.execute(
            "INSERT INTO meter_changes (delivery_point_id, at, old_meter_id, old_final_kwh, new_meter_id, "
            "new_initial_kwh, by_whom) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (point[0], at, point[1], old_final_kwh, new_id, new_initial_kwh, actor)).fetchone()
        conn.execute("UPDATE delivery_points SET meter_id = %s WHERE id = %s", (new_id, point[0]))
        assert row is not None  # noqa: S101
        audit(conn, actor, "meter_replaced", "delivery_point", int(point[0]),
              {"at": at.isoformat(), "old_final_kwh": str(old_final_kwh), "new_meter": new_serial,
               "new_initial_kwh": str(new_initial_kwh)})
    return int(row[0])
