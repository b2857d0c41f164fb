"""The role × route matrix: every route of the application, asked by nobody and by each role, over HTTP.

The expected areas are written here from the product's rules, independently of the code that enforces
them (``regie_chaleur.web.authz``): a new route that no rule below covers fails the test until someone
decides who may reach it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from regie_chaleur.api.app import create_app
from regie_chaleur.db.database import Database
from tests.support.auth import bearer

ROLES = ("admin", "operator", "billing", "subscriber")
PUBLIC = {"/", "/favicon.ico", "/connexion", "/deconnexion", "/api/docs", "/health",
          "/paiement/payfip/notification"}  # called by the DGFiP's PayFiP server, which signs in nowhere
# (path prefix, roles admitted), first match wins
AREAS: list[tuple[str, set[str]]] = [
    ("/api/v1/billing/", {"admin", "billing"}),
    ("/api/v1/me/", {"subscriber"}),
    ("/api/v1/", {"admin", "operator"}),
    ("/exploitation", {"admin", "operator"}),
    ("/facturation", {"admin", "billing"}),
    ("/espace", {"subscriber"}),
    ("/admin/", {"admin"}),
    ("/compte/", {"admin", "operator", "billing", "subscriber"}),  # one's own account
]
# path parameters: objects that do not exist, so that an admitted request reads or changes nothing
PARAMS = {"kind": "pdf", "part": "journal", "action": "acquitter", "number": "F-INCONNUE", "code": "INCONNU"}


def all_routes(app: FastAPI) -> Iterator[APIRoute]:
    def walk(routes: list[object]) -> Iterator[APIRoute]:
        for route in routes:
            if isinstance(route, APIRoute):
                yield route
            elif hasattr(route, "original_router"):  # an included router
                yield from walk(route.original_router.routes)
            elif hasattr(route, "routes") and not hasattr(route, "app"):
                yield from walk(route.routes)
    yield from walk(list(app.routes))


def admitted(path: str) -> set[str] | None:
    """The roles admitted to ``path``; None for a public route."""
    if path in PUBLIC:
        return None
    for prefix, roles in AREAS:
        if path.startswith(prefix):
            return roles
    raise AssertionError(f"no rule says who may reach {path}: add it to AREAS or PUBLIC")


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PARAMS.get(m.group(1), "987654321"), path)


def test_every_route_admits_exactly_its_roles(site: tuple[Database, str]) -> None:
    db, base = site
    headers = {role: bearer(db, role, "ABO-1" if role == "subscriber" else None) for role in ROLES}
    routes = [(method, route.path) for route in all_routes(create_app(db)) for method in sorted(route.methods)]
    assert len(routes) > 80
    wrong: list[str] = []
    with httpx.Client(base_url=base, follow_redirects=False, timeout=60) as client:
        for method, path in routes:
            url = concrete(path)
            roles = admitted(path)
            anonymous = client.request(method, url)
            if roles is not None:
                expected_anonymous = {401} if path.startswith("/api/") else {303}
                if anonymous.status_code not in expected_anonymous or (
                        anonymous.status_code == 303 and not anonymous.headers["location"].startswith("/connexion")):
                    wrong.append(f"anonymous {method} {url}: {anonymous.status_code}")
            for role in ROLES:
                answer = client.request(method, url, headers=headers[role])
                status = answer.status_code
                if status >= 500:
                    wrong.append(f"{role} {method} {url}: {status} {answer.text[:200]}")
                elif roles is not None and role not in roles and status != 403:
                    wrong.append(f"{role} {method} {url}: {status}, expected 403")
                elif (roles is None or role in roles) and status in (401, 403):
                    wrong.append(f"{role} {method} {url}: {status}, expected to be admitted")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_lands_on_its_home(site: tuple[Database, str], role: str) -> None:
    db, base = site
    home = {"admin": "/exploitation", "operator": "/exploitation", "billing": "/facturation",
            "subscriber": "/espace"}[role]
    answer = httpx.get(base + "/", headers=bearer(db, role, "ABO-1" if role == "subscriber" else None))
    assert answer.status_code in (303, 307) and answer.headers["location"] == home
