"""Authentication and authorisation over real HTTP: passwords, sessions and their cookie, CSRF, rate
limiting, API tokens, roles per area, a subscriber confined to their own objects, the audit log."""

from __future__ import annotations

import re
import subprocess
import sys
from contextlib import closing

import httpx
import psycopg
import pytest

from regie_chaleur.db.database import Database
from regie_chaleur.web.security import (
    FREE_FAILURES_PER_PAIR,
    AuthError,
    TooManyAttemptsError,
    authenticate,
    required_wait,
)
from tests.support.auth import PASSWORD, bearer, signed_in


def login_form(client: httpx.Client) -> str:
    found = re.search(r'name="login_token" value="([^"]+)"', client.get("/connexion").text)
    assert found is not None
    return found.group(1)


def test_login_session_cookie_and_logout(site: tuple[Database, str]) -> None:
    db, base = site
    with httpx.Client(base_url=base, follow_redirects=False) as tls:  # behind a TLS proxy: the cookie is Secure
        token = login_form(tls)
        ok = tls.post("/connexion", data={"login": "operatrice", "password": PASSWORD, "login_token": token},
                      headers={"X-Forwarded-Proto": "https"})
        assert ok.status_code == 303 and ok.headers["location"] == "/exploitation"
        cookie = next(h for h in ok.headers.get_list("set-cookie") if h.startswith("regie_session="))
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" in cookie
    client = httpx.Client(base_url=base, follow_redirects=False)
    token = login_form(client)
    bad = client.post("/connexion", data={"login": "operatrice", "password": "faux mot de passe", "login_token": token})
    unknown = client.post("/connexion", data={"login": "personne", "password": PASSWORD, "login_token": token})
    assert bad.status_code == unknown.status_code == 401
    assert all("identifiant ou mot de passe incorrect" in r.text for r in (bad, unknown))  # one message for both
    ok = client.post("/connexion", data={"login": "operatrice", "password": PASSWORD, "login_token": token})
    assert "Secure" not in next(h for h in ok.headers.get_list("set-cookie") if h.startswith("regie_session="))
    assert client.get("/exploitation").status_code == 200
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/exploitation").text)
    assert csrf is not None
    stolen = client.cookies.get("regie_session")
    assert client.post("/deconnexion", data={"csrf_token": csrf.group(1)}).status_code == 303
    replay = httpx.get(f"{base}/exploitation", cookies={"regie_session": stolen}, follow_redirects=False)
    assert replay.status_code == 303 and replay.headers["location"].startswith("/connexion")  # session is gone
    client.close()
    with db.pool.connection() as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM audit_log WHERE actor IN ('operatrice', 'personne') "
                                              "ORDER BY id")]
    assert actions[:4] == ["login", "login_failed", "login_failed", "login"] and "write" in actions  # the logout


def test_login_form_needs_its_token_and_redirects_only_locally(site: tuple[Database, str]) -> None:
    _db, base = site
    with httpx.Client(base_url=base, follow_redirects=False) as client:
        forged = client.post("/connexion", data={"login": "operatrice", "password": PASSWORD, "login_token": "x"})
        assert forged.status_code == 403 and "Formulaire expiré" in forged.text
        token = login_form(client)
        away = client.post("/connexion", data={"login": "operatrice", "password": PASSWORD, "login_token": token,
                                               "suivant": "//evil.example/"})
        assert away.headers["location"] == "/exploitation"


def test_failed_logins_slow_down_the_address_not_the_account(site: tuple[Database, str]) -> None:
    db, base = site
    with httpx.Client(base_url=base, follow_redirects=False) as client:
        token = login_form(client)
        for _ in range(FREE_FAILURES_PER_PAIR):
            assert client.post("/connexion", data={"login": "facturation", "password": "non", "login_token": token}
                               ).status_code == 401
        blocked = client.post("/connexion", data={"login": "facturation", "password": PASSWORD,
                                                  "login_token": token})
        assert blocked.status_code == 429 and "réessayez dans 1 s" in blocked.text  # even the right password
    with db.pool.connection() as conn:
        # someone hammering the operator's login from elsewhere: their address waits, the owner does not
        conn.execute("INSERT INTO login_attempts (login, ip, success, at) SELECT 'operatrice', '203.0.113.9', "
                     "false, now() - interval '1 second' * g FROM generate_series(1, 12) g")
        assert required_wait(conn, "operatrice", "203.0.113.9").total_seconds() > 60
        assert required_wait(conn, "autre-compte", "203.0.113.9").total_seconds() > 0  # the address, any login
        assert required_wait(conn, "operatrice", "192.0.2.10").total_seconds() == 0
        assert authenticate(conn, "operatrice", PASSWORD, "192.0.2.10").login == "operatrice"
        with pytest.raises(TooManyAttemptsError, match="réessayez dans"):
            authenticate(conn, "operatrice", PASSWORD, "203.0.113.9")
        # old failures are forgotten: growing delays, never a lock
        conn.execute("UPDATE login_attempts SET at = at - interval '16 minutes' WHERE ip = '203.0.113.9'")
        assert required_wait(conn, "operatrice", "203.0.113.9").total_seconds() == 0


def test_csrf_is_required_for_cookie_writes(site: tuple[Database, str]) -> None:
    _db, base = site
    client = signed_in(base, "facturation")
    csrf = client.headers.pop("X-CSRF-Token")
    refused = client.post("/facturation/abonnes/nouveau", data={"code": "NOUVEAU", "name": "Nouveau"})
    assert refused.status_code == 403 and "CSRF" in refused.text
    invalid = client.post("/facturation/abonnes/nouveau", data={"code": "X", "csrf_token": "faux"})
    assert invalid.status_code == 403
    accepted = client.post("/facturation/abonnes/nouveau", data={"csrf_token": csrf, "code": "ABO 3", "name": ""})
    assert accepted.status_code == 422  # past the CSRF check, into the form's validation (in French)
    assert "obligatoire" in accepted.text and "code « ABO 3 » invalide" in accepted.text
    client.close()


def test_roles_reach_only_their_areas(site: tuple[Database, str]) -> None:
    db, base = site
    areas = {"/exploitation": {"operatrice", "administratrice"}, "/facturation": {"facturation", "administratrice"},
             "/espace": {"abonne-un"}, "/admin/comptes": {"administratrice"}}
    for login in ("operatrice", "facturation", "abonne-un", "administratrice"):
        with closing(signed_in(base, login)) as client:
            for path, allowed in areas.items():
                assert client.get(path).status_code == (200 if login in allowed else 403), (login, path)
    anonymous = httpx.get(f"{base}/facturation/factures", follow_redirects=False)
    assert anonymous.headers["location"] == "/connexion?suivant=/facturation/factures"
    assert httpx.get(f"{base}/api/v1/billing/runs").status_code == 401
    assert httpx.get(f"{base}/api/v1/billing/runs", headers={"Authorization": "Bearer rc_inconnu"}).status_code == 401
    subscriber_token = bearer(db, "subscriber", "ABO-1")
    assert httpx.get(f"{base}/api/v1/billing/runs", headers=subscriber_token).status_code == 403
    assert httpx.get(f"{base}/api/v1/network/overview", headers=subscriber_token).status_code == 403
    assert httpx.get(f"{base}/api/v1/billing/runs", headers=bearer(db, "billing")).status_code == 200


def test_a_subscriber_sees_only_their_own(site: tuple[Database, str]) -> None:
    db, base = site
    with db.pool.connection() as conn:
        numbers = dict(conn.execute("SELECT s.code, i.number FROM invoices i JOIN subscribers s ON "
                                    "s.id = i.subscriber_id").fetchall())
    from regie_chaleur.services.documents import generate_for

    with db.pool.connection() as conn:
        generate_for(conn, list(numbers.values()))
    own, other = numbers["ABO-1"], numbers["ABO-2"]
    client = signed_in(base, "abonne-un")
    assert client.get("/espace").status_code == 200
    assert own in client.get("/espace/factures").text and other not in client.get("/espace/factures").text
    assert client.get(f"/espace/factures/{own}.pdf").content.startswith(b"%PDF-")
    assert client.get(f"/espace/factures/{other}.pdf").status_code == 404  # not "forbidden": it does not exist
    assert client.get("/espace?point=PDL-0002").status_code == 404
    assert client.get("/espace/donnees/mensuel?point=PDL-0002").status_code == 404
    token = bearer(db, "subscriber", "ABO-1")
    assert httpx.get(f"{base}/api/v1/me/invoices/{own}", headers=token).status_code == 200
    assert httpx.get(f"{base}/api/v1/me/invoices/{other}", headers=token).status_code == 404
    listed = httpx.get(f"{base}/api/v1/me/invoices", headers=token).json()
    assert [i["number"] for i in listed["items"]] == [own]
    export = client.get("/espace/export.csv")
    assert export.status_code == 200 and "PDL-0002" not in export.text
    client.close()


def test_users_create_command(db: Database) -> None:
    from tests.test_cli import run as cli

    env = {"REGIE_MODE": "development", "REGIE_DATABASE_URL": db.url}
    made = subprocess.run([sys.executable, "-m", "regie_chaleur.cli", "users", "create", "--login", "premiere.admin",
                           "--role", "admin", "--name", "Première administratrice", "--password-stdin"],
                          input="un mot de passe solide\n", capture_output=True, text=True, timeout=60, check=False,
                          env={**{k: v for k, v in __import__("os").environ.items() if not k.startswith("REGIE_")},
                               **env})
    assert made.returncode == 0, made.stderr
    short = subprocess.run([sys.executable, "-m", "regie_chaleur.cli", "users", "create", "--login", "autre",
                            "--role", "operator", "--name", "X", "--password-stdin"], input="court\n",
                           capture_output=True, text=True, timeout=60, check=False,
                           env={**{k: v for k, v in __import__("os").environ.items() if not k.startswith("REGIE_")},
                                **env})
    assert short.returncode == 2 and "au moins 12 caractères" in short.stderr
    listed = cli("users", "list", env=env)
    assert "premiere.admin" in listed.stdout and "admin" in listed.stdout
    with psycopg.connect(db.url) as conn:
        stored = conn.execute("SELECT password_hash FROM users WHERE login = 'premiere.admin'").fetchone()
    assert stored is not None and stored[0].startswith("$argon2id$")
    made_token = cli("users", "token", "premiere.admin", "--name", "supervision", "--days", "30", env=env)
    assert made_token.returncode == 0 and made_token.stdout.startswith("rc_"), made_token.stderr
    too_long = cli("users", "token", "premiere.admin", "--name", "x", "--days", "9999", env=env)
    assert too_long.returncode == 2 and "de 1 à 730 jours" in too_long.stderr
    tokens = cli("users", "tokens", env=env)
    assert "supervision" in tokens.stdout and "actif" in tokens.stdout
    assert made_token.stdout.strip() not in tokens.stdout  # never the value again
    token_id = tokens.stdout.split()[0]
    assert cli("users", "revoke-token", token_id, "--as", "premiere.admin", env=env).returncode == 0
    assert "révoqué" in cli("users", "tokens", "premiere.admin", env=env).stdout
    assert cli("users", "revoke-token", token_id, env=env).returncode == 2  # already revoked
    assert cli("users", "role", "premiere.admin", "--role", "billing", "--as", "quelqu-un", env=env).returncode == 0
    assert "billing" in cli("users", "list", env=env).stdout


@pytest.mark.parametrize(("trusted", "seen_ip", "secure"), [("127.0.0.1", "198.51.100.7", True),
                                                             ("192.0.2.250", "127.0.0.1", False)])
def test_forwarded_headers_only_from_trusted_proxies(db: Database, trusted: str, seen_ip: str, secure: bool) -> None:
    from regie_chaleur.api.app import create_app
    from tests.support.http_server import serve

    forwarded = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}
    with serve(create_app(db), trusted_proxies=trusted) as base, \
            httpx.Client(base_url=base, follow_redirects=False, headers=forwarded) as client:
        form = client.get("/connexion")
        assert ("secure" in form.headers["set-cookie"].lower()) is secure
        assert ("strict-transport-security" in form.headers) is secure  # HSTS behind the TLS proxy only
        token = re.search(r'name="login_token" value="([^"]+)"', form.text)
        assert token is not None
        client.cookies.set("regie_login", token.group(1))
        client.post("/connexion", data={"login": "personne", "password": "faux", "login_token": token.group(1)})
    with db.pool.connection() as conn:
        assert conn.execute("SELECT ip FROM login_attempts WHERE login = 'personne'").fetchone() == (seen_ip,)


def test_tokens_expire_and_are_revoked_one_by_one(site: tuple[Database, str]) -> None:
    db, base = site
    from regie_chaleur.web.accounts import issue_token, list_tokens, revoke_token

    with db.pool.connection() as conn:
        first = issue_token(conn, "operatrice", "supervision", 30, actor="administratrice")
        second = issue_token(conn, "operatrice", "tableur", 365, actor="administratrice")
        with pytest.raises(AuthError, match="de 1 à 730 jours"):
            issue_token(conn, "operatrice", "trop long", 5000, actor="administratrice")
    with httpx.Client(base_url=base) as http:
        for value in (first, second):
            assert http.get("/api/v1/alarms", headers={"Authorization": f"Bearer {value}"}).status_code == 200
    with db.pool.connection() as conn:
        tokens = {t.name: t for t in list_tokens(conn, "operatrice")}
        assert tokens["supervision"].state == "actif" and tokens["supervision"].prefix == first[:10]
        revoke_token(conn, tokens["supervision"].id, actor="administratrice")
        conn.execute("UPDATE api_tokens SET expires_at = now() - interval '1 minute' WHERE name = 'tableur'")
        states = {t.name: (t.state, t.revoked_by) for t in list_tokens(conn, "operatrice")}
        assert states == {"supervision": ("révoqué", "administratrice"), "tableur": ("expiré", None)}
    with httpx.Client(base_url=base) as http:
        for value in (first, second):
            assert http.get("/api/v1/alarms", headers={"Authorization": f"Bearer {value}"}).status_code == 401


def test_password_change_reset_and_role_change(site: tuple[Database, str]) -> None:
    db, base = site
    with closing(signed_in(base, "operatrice")) as client:
        wrong = client.post("/compte/mot-de-passe", data={"current": "pas le bon", "new": "x" * 14,
                                                          "repeated": "x" * 14})
        assert wrong.status_code == 422 and "mot de passe actuel incorrect" in wrong.text
        done = client.post("/compte/mot-de-passe", data={"current": PASSWORD, "new": "un autre mot de passe",
                                                         "repeated": "un autre mot de passe"})
        assert done.status_code == 303
        assert client.get("/exploitation").status_code == 303  # the session is closed
    with closing(signed_in(base, "operatrice", "un autre mot de passe")):
        pass
    with closing(signed_in(base, "administratrice")) as admin:
        users = dict(conn_row for conn_row in _users(db))
        reset = admin.post(f"/admin/comptes/{users['operatrice']}/mot-de-passe", data={"password": "court"})
        assert reset.status_code == 422 and "12 caractères" in reset.text
        assert admin.post(f"/admin/comptes/{users['operatrice']}/mot-de-passe",
                          data={"password": "remis par l'admin"}).status_code == 303
        role = admin.post(f"/admin/comptes/{users['operatrice']}/role", data={"role": "billing"})
        assert role.status_code == 303
        self_demotion = admin.post(f"/admin/comptes/{users['administratrice']}/role", data={"role": "operator"})
        assert self_demotion.status_code == 422 and "propre rôle" in self_demotion.text
    with closing(signed_in(base, "operatrice", "remis par l'admin")) as moved:
        assert moved.get("/facturation").status_code == 200 and moved.get("/exploitation").status_code == 403
    with db.pool.connection() as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM audit_log WHERE action IN ('password_changed', "
                                              "'password_reset', 'role_changed') ORDER BY id")]
    assert actions == ["password_changed", "password_reset", "role_changed"]


def _users(db: Database) -> list[tuple[str, int]]:
    with db.pool.connection() as conn:
        return [(r[0], int(r[1])) for r in conn.execute("SELECT login, id FROM users")]
