"""Ctrl-C at any moment of ``regie-chaleur demo``, sent to its whole process group as a terminal does:
while the history loads, and once it serves while the year's documents are still being generated. Each
time everything stops within seconds — the web server, the simulated substations, the collector, the
background jobs — and the embedded PostgreSQL (which runs in a session of its own) is stopped too."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

STOP_WITHIN_S = 20.0  # [s] from the signal to the last process gone, on a loaded machine


def start(data_dir: Path) -> subprocess.Popen[str]:
    """The demo on the embedded PostgreSQL, in a process group of its own (as a terminal's job)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGIE_")}
    env |= {"REGIE_DATA_DIR": str(data_dir), "REGIE_LOG_LEVEL": "WARNING"}
    return subprocess.Popen([sys.executable, "-m", "regie_chaleur.cli", "demo", "--port", "0", "--substations", "6",
                             "--modbus-port", "0"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def read_until(process: subprocess.Popen[str], marker: str, output: list[str], timeout_s: float = 400) -> str:
    deadline = time.monotonic() + timeout_s
    assert process.stdout is not None
    for line in process.stdout:
        output.append(line)
        if marker in line:
            return line
        assert time.monotonic() < deadline, "".join(output)
    raise AssertionError("the demo ended before « " + marker + " »:\n" + "".join(output))


def interrupt(process: subprocess.Popen[str], output: list[str]) -> float:
    """SIGINT to the group; seconds until the demo has exited."""
    sent = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)
    out, _ = process.communicate(timeout=120)
    output.append(out)
    return time.monotonic() - sent


def postgres_running(pgdata: Path) -> bool:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        os.kill(int(pid_file.read_text().split()[0]), 0)
    except (ProcessLookupError, ValueError):
        return False
    return True


@pytest.mark.timeout(900)
@pytest.mark.parametrize("moment", ["while the history loads", "while the documents are generated"])
def test_ctrl_c_stops_everything(moment: str, tmp_path: Path) -> None:
    output: list[str] = []
    process = start(tmp_path)
    try:
        ready = read_until(process, "database ready", output)
        pgdata = Path(re.search(r"embedded server in (\S+),", ready).group(1))  # type: ignore[union-attr]
        assert postgres_running(pgdata)
        read_until(process, "history:" if moment.startswith("while the history") else "Ctrl-C stops everything",
                   output)
        took = interrupt(process, output)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)
        if process.stdout is not None:  # also when the demo failed on its own: no pipe left to the next test
            process.stdout.close()
    text = "".join(output)
    assert took < STOP_WITHIN_S, f"{moment}: stopped after {took:.1f} s\n{text}"
    assert "Traceback" not in text, text
    deadline = time.monotonic() + 10
    while postgres_running(pgdata) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not postgres_running(pgdata), f"{moment}: the embedded PostgreSQL still runs"
    with pytest.raises(ProcessLookupError):  # nothing left in the demo's process group
        os.killpg(process.pid, 0)
