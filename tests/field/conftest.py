"""The field tests' database: the small network of :mod:`tests.field.support`."""

from __future__ import annotations

import pytest

from regie_chaleur.db.database import Database
from tests.field.support import field_network


@pytest.fixture
def net(db: Database) -> Database:
    with db.pool.connection() as conn:
        field_network(conn)
    return db
