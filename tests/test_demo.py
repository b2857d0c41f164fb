"""``regie-chaleur demo`` in the background (a smaller network on a test database): every main page is
reached over HTTP by each role and shows the demonstration's data; Ctrl-C stops everything (the web
server, the simulated substations, the collector); a second start reuses the data."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest

from regie_chaleur.operations.kpis import network_balance
from tests.support.auth import signed_in

PASSWORD = "chaleur-ivry-demo"
PARIS = ZoneInfo("Europe/Paris")
SUBSTATIONS = 12
#: page -> text it must show (data of the demonstration, not an empty state)
PAGES = {
    "exploitation": {"/exploitation": "SST-C001", "/exploitation/sous-stations": "SST-F00",
                     "/exploitation/sous-stations/SST-C001": "centre", "/exploitation/alarmes": "Sous-station",
                     "/exploitation/prevision": "Précision sur 30 jours",
                     "/exploitation/donnees/charge": "Charge mesurée"},
    "facturation": {"/facturation": "Tournée", "/facturation/factures": "FAC-",
                    "/facturation/abonnes": "OPH-IVRY", "/facturation/contrats": "POL-C001",
                    "/facturation/tarifs": "CA-2025-41"},
    "abonne": {"/espace": "PDL-", "/espace/factures": "FAC-", "/espace/contrat": "POL-",
               "/espace/donnees/mensuel": "Consommation"},
    "admin": {"/admin/comptes": "exploitation", "/exploitation": "SST-C001"},
}


class Demo:
    """The demo in a subprocess, on ports the system chooses (web and Modbus), read from its output."""

    def __init__(self, db_url: str, data_dir: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGIE_")}
        env |= {"REGIE_DATABASE_URL": db_url, "REGIE_DATA_DIR": str(data_dir), "REGIE_LOG_LEVEL": "WARNING"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "regie_chaleur.cli", "demo", "--port", "0", "--substations",
             str(SUBSTATIONS), "--modbus-port", "0"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.output: list[str] = []
        self.port = 0
        self.modbus_ports: tuple[int, int] = (0, 0)

    def wait_ready(self, timeout_s: float = 300) -> int:
        """Until the accounts are printed and the web server answers; returns its port."""
        deadline = time.monotonic() + timeout_s
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            served = re.search(r"Modbus TCP devices on 127\.0\.0\.1:(\d+)-(\d+)", line)
            if served:
                self.modbus_ports = (int(served.group(1)), int(served.group(2)))
            url = re.search(r"regie-chaleur demo: http://[^:]+:(\d+)/", line)
            if url:
                self.port = int(url.group(1))
            if "Ctrl-C stops everything" in line:
                break
            if time.monotonic() > deadline:
                raise AssertionError("the demo did not come up:\n" + "".join(self.output))
        else:
            raise AssertionError("the demo stopped:\n" + "".join(self.output))
        port = self.port
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    return port
            except httpx.HTTPError:
                time.sleep(0.3)
        raise AssertionError("the demo's web server did not answer:\n" + "".join(self.output))

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        out, _ = self.process.communicate(timeout=90)
        self.output.append(out)
        return self.process.returncode


@pytest.fixture
def demo_env(make_database: Callable[[], str], tmp_path: Path) -> tuple[str, Path]:
    return make_database(), tmp_path


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.timeout(900)
def test_demo_serves_every_main_page_with_data_then_stops_cleanly(demo_env: tuple[str, Path]) -> None:
    url, data_dir = demo_env
    demo = Demo(url, data_dir)
    try:
        port = demo.wait_ready()
        modbus_port = demo.modbus_ports[0]
        text = "".join(demo.output)
        assert f"http://localhost:{port}/" in text and PASSWORD in text
        assert re.search(r"history written: [\d,]+ rows", text)
        assert "invoices issued" in text
        assert port_open(modbus_port)  # the simulated substations are served
        base = f"http://127.0.0.1:{port}"
        for login, pages in PAGES.items():
            client = signed_in(base, login, PASSWORD)
            for path, expected in pages.items():
                answer = client.get(path)
                assert answer.status_code == 200, (login, path, answer.status_code)
                assert expected in answer.text, (login, path, expected)
            client.close()
        # the production meters make the network balance: yesterday's losses are a plausible share
        with psycopg.connect(url, autocommit=True) as conn:
            yesterday = datetime.now(PARIS).date() - timedelta(days=1)
            balance = network_balance(conn, yesterday, yesterday)
        assert balance.losses_pct is not None and 2 < balance.losses_pct < 25, balance
        # the collector polls the simulated substations over Modbus TCP: the controllers' rows (the
        # history carries only the meters' merged rows)
        deadline = time.monotonic() + 90
        with psycopg.connect(url, autocommit=True) as conn:
            while conn.execute("SELECT count(*) FROM substation_samples s JOIN devices d ON d.id = s.device_id "
                               "WHERE d.code LIKE '%%-REG'").fetchone() == (0,):
                assert time.monotonic() < deadline, "no live sample"
                time.sleep(2)
    finally:
        code = demo.stop()
    assert code == 0, "".join(demo.output)
    assert "stopped" in demo.output[-1]
    assert not port_open(port) and not port_open(modbus_port)  # nothing left serving
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)

    again = Demo(url, data_dir)  # reuses the data: no new network, no 13 months again
    try:
        again.wait_ready()
        text = "".join(again.output)
        assert "network found" in text and "network built" not in text
        written = re.search(r"history: .* \(([\d,]+) rows\)", text)
        assert written is None or int(written.group(1).replace(",", "")) <= SUBSTATIONS * 6  # only the last minutes
    finally:
        assert again.stop() == 0
