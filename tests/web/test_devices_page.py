"""The device inventory page, over HTTP as an operator: every device with its profile, endpoint, state and
last answer, from the collector's health records (online, silent past the comm_lost threshold, flaky,
never polled, disabled), filtered by state and search; not for subscribers."""

from __future__ import annotations

from contextlib import closing
from datetime import UTC, datetime, timedelta

from regie_chaleur.db.database import Database
from tests.support.auth import signed_in
from tests.support.html import page_text as _text


def test_device_inventory(site: tuple[Database, str]) -> None:
    db, base = site
    now = datetime.now(UTC)
    with db.pool.connection() as conn:
        devices = [r[0] for r in conn.execute("SELECT id FROM devices ORDER BY code")]
        assert len(devices) >= 2
        rows = [(devices[0], now - timedelta(seconds=30), now - timedelta(seconds=30), 100, 99, 0, None),
                (devices[1], now - timedelta(minutes=20), now - timedelta(seconds=20), 100, 80, 20,
                 "pas de réponse dans le délai (3,0 s)")]
        conn.cursor().executemany(
            "INSERT INTO device_health (device_id, last_success, last_attempt, polls, successes, "
            "consecutive_failures, last_error, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, now())", rows)
        codes = [r[0] for r in conn.execute("SELECT code FROM devices ORDER BY code")]
        host, port, profile = conn.execute("SELECT host, port, profile FROM devices ORDER BY code LIMIT 1").fetchone()
    with closing(signed_in(base, "operatrice")) as client:
        listed = client.get("/exploitation/equipements")
        text = _text(listed)
        assert listed.status_code == 200 and f"{len(codes)} équipement(s)" in text
        assert profile in text and f"{host}:{port}" in text
        assert "en ligne (1)" in text and "pas de réponse (1)" in text
        assert "pas de réponse dans le délai (3,0 s)" in text and "80,0 %" in text
        silent = _text(client.get("/exploitation/equipements", params={"etat": "silent"}))
        assert "1 équipement(s)" in silent and codes[1] in silent
        never = _text(client.get("/exploitation/equipements", params={"etat": "never"}))
        assert f"{len(codes) - 2} équipement(s)" in never
        found = _text(client.get("/exploitation/equipements", params={"q": codes[0]}))
        assert "1 équipement(s)" in found
    with closing(signed_in(base, "abonne-un")) as client:
        assert client.get("/exploitation/equipements").status_code == 403
