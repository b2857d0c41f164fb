"""Property-based tests of the JSON API against its own OpenAPI schema (Schemathesis + Hypothesis), over
HTTP, with each role's credentials: no server error, no status code or body outside the schema.

Writes are generated too (runs, credit notes, imports, contracts...) on the test's own database; the
generated values are mostly invalid, which is the point: they must be refused with a documented 4xx.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from regie_chaleur.db.database import Database
from tests.support.auth import bearer

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 15


@pytest.mark.parametrize("role", ["admin", "operator", "billing", "subscriber"])
def test_the_api_keeps_to_its_schema(site: tuple[Database, str], role: str) -> None:
    db, base = site
    headers = bearer(db, role, "ABO-1" if role == "subscriber" else None)
    schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=base, headers=headers, checks=CHECKS)

        try:
            check()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {exc}")
    assert operations > 25
    assert not failures, "\n\n".join(failures)
