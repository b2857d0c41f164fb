"""Splitting the fleet between collectors: every device in exactly one shard."""

from __future__ import annotations

import pytest

from regie_chaleur.db.database import Database
from regie_chaleur.errors import RegieError
from regie_chaleur.registry.store import import_inventory_text
from regie_chaleur.services.telemetry import Shard, fleet_inventory, read_device_configs
from telemetry.profiles import load_profiles
from telemetry.simulator.fleet import fleet_specs


def test_shards_partition_the_fleet(db: Database) -> None:
    profiles = load_profiles()
    with db.pool.connection() as conn:
        import_inventory_text(conn, fleet_inventory(fleet_specs(25)), "fleet.yaml", profiles=profiles)
        everything = {d.code for d in read_device_configs(conn, profiles, Shard())}
        shards = [{d.code for d in read_device_configs(conn, profiles, Shard(i, 3))} for i in range(3)]
    assert len(everything) == 50
    assert set().union(*shards) == everything
    assert sum(len(s) for s in shards) == 50
    for s in shards:  # a substation's devices stay together (one endpoint, one collector)
        assert {c.rsplit("-", 1)[0] for c in s}.isdisjoint(
            {c.rsplit("-", 1)[0] for other in shards if other is not s for c in other})


@pytest.mark.parametrize("text", ["3/3", "1", "a/b", "-1/2"])
def test_bad_shard_is_refused(text: str) -> None:
    with pytest.raises(RegieError, match="--shard"):
        Shard.parse(text)
