"""Proof of repair on simulator data: a return-temperature fault planted on two substations, one fixed
when its order closes (improvement verified), one not (no measurable effect); an order closed too
recently waits for its days after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from regie_chaleur.db.database import Database
from regie_chaleur.field.orders import create_order, read_order, set_status
from regie_chaleur.field.repair import evaluate_repairs
from regie_chaleur.operations.rollups import refresh_operations
from tests.operations.support import build_network

pytestmark = pytest.mark.timeout(300)
START = datetime(2026, 1, 5, tzinfo=UTC)
REPAIRED = START + timedelta(days=24, hours=10)  # the day the technicians fixed it (11:00 in Paris)
END = START + timedelta(days=36)
FAULT_K = 9.0  # [K] the return temperature is this much too hot while the fault lasts


def plant_fault(db: Database, substation: str, until: datetime) -> None:
    with db.pool.connection() as conn:
        conn.execute("""UPDATE substation_samples SET t_return_primary = t_return_primary + %s
                        WHERE device_id IN (SELECT d.id FROM devices d JOIN substations s ON s.id = d.substation_id
                                            WHERE s.code = %s) AND time >= %s AND time < %s""",
                     (FAULT_K, substation, START + timedelta(days=4), until))


@pytest.fixture
def network(db: Database) -> Database:
    build_network(db, 3, START - timedelta(days=1), END, step=timedelta(minutes=30))
    plant_fault(db, "SIM-00001", REPAIRED)  # fixed by the intervention
    plant_fault(db, "SIM-00002", END)  # the intervention did not fix it
    with db.pool.connection() as conn:
        refresh_operations(conn, START - timedelta(days=1), END)
    return db


def close_order(db: Database, substation: str, finished: datetime) -> int:
    with db.pool.connection() as conn:
        order = create_order(conn, title="Retour trop chaud", kind="repair", place=("substation", substation),
                             by="operatrice", now=finished - timedelta(hours=3))
        set_status(conn, order, "in_progress", "technicien", finished - timedelta(hours=2))
        set_status(conn, order, "done", "technicien", finished)
    return order


def test_a_fixed_fault_is_verified_and_an_unfixed_one_shows_no_effect(network: Database) -> None:
    fixed = close_order(network, "SIM-00001", REPAIRED)
    unfixed = close_order(network, "SIM-00002", REPAIRED)
    recent = close_order(network, "SIM-00003", END - timedelta(days=2))
    blind = close_order(network, "SIM-00003", START - timedelta(days=10))  # no history before it
    with network.pool.connection() as conn:
        assert evaluate_repairs(conn, START + timedelta(days=5)) == {}  # thin data: tried again a day later
        assert evaluate_repairs(conn, START + timedelta(days=5, hours=12)) == {}
        # the repairs' days after have not passed; the blind one is given up 30 days after it closed
        assert evaluate_repairs(conn, REPAIRED + timedelta(days=3)) == {"insufficient": 1}
        counts = evaluate_repairs(conn, END)
        good, bad, waiting, given_up = (read_order(conn, o) for o in (fixed, unfixed, recent, blind))
    assert counts == {"verified": 1, "no_effect": 1}
    assert given_up["proof_status"] == "insufficient" and "données insuffisantes" in given_up["events"][-1]["comment"]
    assert good["proof_status"] == "verified" and bad["proof_status"] == "no_effect"
    assert waiting["proof_status"] == "pending"
    ret = {i["column"]: i for i in good["proof"]["indicators"]}
    assert ret["t_return"]["change"] == "better" and ret["delta_t"]["change"] == "better"
    assert -FAULT_K - 1.5 < ret["t_return"]["effect"] < -FAULT_K + 1.5  # the fault's size, found back
    assert {i["change"] for i in bad["proof"]["indicators"]} == {"same"}
    assert good["proof"]["days_before"] >= 10 and good["proof"]["days_after"] >= 6
    assert len(good["proof"]["series"]["days"]) == len(good["proof"]["series"]["delta_t"])
    assert "amélioration vérifiée" in good["events"][-1]["comment"]
    assert "température de retour : amélioration (-" in good["events"][-1]["comment"]
