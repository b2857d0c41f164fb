"""Shared helpers of the benchmarks: machine description, results files, a scratch database."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

BENCH = Path(__file__).resolve().parent
RESULTS_MD = BENCH / "RESULTS.md"
RESULTS_DIR = BENCH / "results"
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def machine() -> str:
    """One line describing this machine (CPU model, cores, memory, OS, PostgreSQL)."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem_gb:.0f} GiB, {platform.system()} {platform.release()}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table."""
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def record(name: str, title: str, body: str, data: dict[str, Any]) -> None:
    """Print the section, append it to RESULTS.md and write results/<name>.json."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = f"\n## {title}\n\n{stamp} on {machine()}; `bench/{name}`.\n\n{body}\n"
    print(section)
    if not RESULTS_MD.exists():
        RESULTS_MD.write_text("# Benchmark results\n\nEach section is appended by the benchmark that measured it.\n")
    with RESULTS_MD.open("a") as f:
        f.write(section)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")


@contextmanager
def scratch_database(prefix: str, keep: str | None = None) -> Iterator[str]:
    """A fresh database on REGIE_BENCH_DATABASE_URL (default: local PostgreSQL), dropped afterwards.

    With ``keep``, the database of that name instead: created when missing, never dropped (to measure
    again on data an earlier run loaded).
    """
    admin = os.environ.get("REGIE_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL)
    if keep:
        with psycopg.connect(admin, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (keep,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(keep)))
        yield make_conninfo(admin, dbname=keep)
        return
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(admin, dbname=name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its reaped children so far [s]."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def ensure_debian_package(command: str, package: str) -> bool:
    """Install a Debian package when its command is missing (root only); True when available."""
    if subprocess.run(["sh", "-c", f"command -v {command}"], capture_output=True, check=False).returncode == 0:
        return True
    if os.geteuid() != 0:
        return False
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
                   capture_output=True, check=False)
    return subprocess.run(["sh", "-c", f"command -v {command}"], capture_output=True, check=False).returncode == 0
