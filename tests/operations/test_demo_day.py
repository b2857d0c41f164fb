"""Alarms an operator trusts, over a simulated day: every value goes through the devices' register maps
(the shipped profiles' types, scales and resolutions: a steady int16 ÷ 10 temperature repeats itself),
one poll a minute. The healthy substations raise no alarm at all; each planted fault raises its own;
messages are French with the quantity's name and unit."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from regie_chaleur.db.database import Database
from regie_chaleur.operations.alarms import evaluate_alarms
from regie_chaleur.registry.store import import_inventory_text
from regie_chaleur.services.telemetry import fleet_inventory
from telemetry.decode import CounterState
from telemetry.planning import plan_blocks
from telemetry.poller import decode_register_block
from telemetry.profiles import Profile, load_profiles
from telemetry.quality import Quality
from telemetry.samples import Reading
from telemetry.simulator.fleet import SimulatedSubstationSpec, fleet_specs
from telemetry.simulator.physics import make_substation
from telemetry.simulator.server import encode_point
from telemetry.writer import copy_readings

START = datetime(2026, 1, 20, 0, 0, tzinfo=UTC)  # a winter Tuesday; alarms judged from 02:00 to midnight
END = START + timedelta(days=1)
STEP = timedelta(minutes=1)
FAULT_FROM = START + timedelta(hours=9)
#: substation (1-based index in the fleet) -> (fault, the one rule it must raise)
FAULTS = {5: ("frozen", "frozen_sensor"), 6: ("return_high", "return_too_high"), 7: ("meter_error", "meter_error"),
          8: ("no_answer", "comm_lost"), 9: ("sentinel", "invalid_data")}
HEALTHY = 4  # substations 1-4: the four combinations of the shipped meter and controller profiles


def wire(profile: Profile, values: dict[str, float], state: tuple[dict[str, int], CounterState]
         ) -> list[dict[str, tuple[float | None, Quality]]]:
    """Each register block of ``profile`` encoded from ``values`` and decoded back, as the collector reads it."""
    unit_raw, counters = state
    units = {p.scale_register for p in profile.points if p.scale_register}
    out = []
    for block in plan_blocks(profile):
        if block.function in (1, 2):
            continue
        registers = [0] * block.count
        for p in block.points:
            i = p.address - block.start
            if p.type == "bits":
                registers[i] |= (1 << (p.bit or 0)) if values.get(p.name) else 0
                continue
            regs = encode_point(p, values.get(p.name, 0.0), int(values.get("energy_unit", 0)))
            registers[i:i + len(regs)] = regs
        out.append(decode_register_block(block, registers, unit_raw, counters, units))
    return out


def simulated_day(specs: list[SimulatedSubstationSpec], ids: dict[str, int], profiles: dict[str, Profile]
                  ) -> list[Reading]:
    subs = {s.code: make_substation(s.code, s.seed) for s in specs}
    states = {d.code: ({}, CounterState()) for s in specs for d in s.devices}
    readings = []
    t = START
    while t < END:
        for i, spec in enumerate(specs, start=1):
            sub = subs[spec.code]
            fault = FAULTS.get(i, ("", ""))[0] if t >= FAULT_FROM else ""
            sub.frozen = fault == "frozen"
            sub.offsets = {"t_return_primary": 14.0} if fault == "return_high" else {}  # a fouled exchanger
            sub.error_code = 8 if fault == "meter_error" else 0
            values = sub.values(t)
            for d in spec.devices:
                profile = profiles[d.profile]
                for k, decoded in enumerate(wire(profile, values, states[d.code])):
                    if fault == "no_answer":
                        decoded = {name: (None, Quality.COMM_ERROR) for name in decoded}
                    elif fault == "sentinel" and d.role == "meter":
                        decoded = {name: (None, Quality.INVALID) for name in decoded}
                    readings.append(Reading(t + timedelta(seconds=7 * k), ids[d.code], decoded))  # staggered blocks
        t += STEP
    return readings


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_day_raises_each_planted_fault_and_nothing_on_healthy_substations(db: Database) -> None:
    profiles = load_profiles()
    specs = fleet_specs(HEALTHY + len(FAULTS), 5020, "127.8.0.0")
    with db.pool.connection() as conn:
        import_inventory_text(conn, fleet_inventory(specs), "fleet.yaml", profiles=profiles)
        ids = dict(conn.execute("SELECT code, id FROM devices").fetchall())
        readings = simulated_day(specs, ids, profiles)
        for i in range(0, len(readings), 20_000):
            copy_readings(conn, readings[i:i + 20_000])
        raised: dict[tuple[str, str], str] = {}
        at = START + timedelta(hours=2)
        while at <= END:
            evaluate_alarms(conn, at)
            at += timedelta(minutes=10)
        for code, rule, message in conn.execute(
                "SELECT s.code, a.rule, a.message FROM alarms a JOIN substations s ON s.id = a.substation_id"):
            raised[(code, rule)] = message.replace("\u202f", " ")  # French typography: narrow no-break spaces
    expected = {(specs[i - 1].code, rule) for i, (_, rule) in FAULTS.items()}
    assert set(raised) == expected, {k: v for k, v in raised.items() if k not in expected}
    frozen = raised[(specs[4].code, "frozen_sensor")]
    assert re.search(r"(puissance|débit|température [a-zé ]+) figée? à [\d ,]+ (kW|m³/h|°C) depuis 60 min", frozen)
    high = raised[(specs[5].code, "return_too_high")]
    assert re.search(r"température de retour primaire 5\d,\d °C en moyenne sur une heure \(seuil 55 °C\)", high)
    assert "_" not in "".join(raised.values())  # no internal names
