"""The embedded PostgreSQL: starts, serves, and a server orphaned by a SIGKILL is reused then stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from regie_chaleur.db.embedded import EmbeddedServer

STARTER = """
import sys, time
from pathlib import Path
from regie_chaleur.db.embedded import EmbeddedServer
server = EmbeddedServer(Path(sys.argv[1]))
print(server.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_server_orphaned_by_kill_is_reused_then_stopped(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    starter = subprocess.Popen([sys.executable, "-c", STARTER, str(pgdata)], stdout=subprocess.PIPE, text=True)
    assert starter.stdout is not None
    postmaster = int(starter.stdout.readline())
    starter.send_signal(signal.SIGKILL)
    starter.wait(timeout=10)
    starter.stdout.close()
    assert _alive(postmaster), "the server outlives a SIGKILLed parent (the pitfall we handle)"

    server = EmbeddedServer(pgdata)
    assert server.pid == postmaster
    with psycopg.connect(server.url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("regie_chaleur",)
    server.stop()
    deadline = time.monotonic() + 10
    while _alive(postmaster) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(postmaster)
