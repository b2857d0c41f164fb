"""TimescaleDB capability detection, done once at start-up.

Three modes:

- ``timescaledb-community``: hypertables, native compression, continuous aggregates, policies;
- ``timescaledb-apache``: hypertables, ``drop_chunks`` and ``time_bucket`` only (what a plain source
  build gives, and what CI has);
- ``plain``: PostgreSQL tables with BRIN indexes on time, the project's own rollup and retention jobs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import psycopg
from psycopg import errors as pg_errors

from regie_chaleur.errors import TimescaleRequiredError

log = logging.getLogger(__name__)
_announced: set[str] = set()

Mode = Literal["timescaledb-community", "timescaledb-apache", "plain"]


@dataclass(frozen=True)
class Capabilities:
    """What the connected database can do."""

    timescaledb_version: str | None = None
    license: str | None = None  # "apache" or "timescale"
    server_version: str = ""

    @property
    def hypertables(self) -> bool:
        """Hypertables, chunks and ``drop_chunks`` are available."""
        return self.timescaledb_version is not None

    @property
    def community(self) -> bool:
        """Compression, continuous aggregates and background policies are available."""
        return self.hypertables and self.license == "timescale"

    @property
    def mode(self) -> Mode:
        if not self.hypertables:
            return "plain"
        return "timescaledb-community" if self.community else "timescaledb-apache"


def detect_capabilities(conn: psycopg.Connection, setting: str = "auto") -> Capabilities:
    """Install the extension when possible and report what the database can do.

    Args:
        conn: an open connection (autocommit or not; a failed CREATE EXTENSION is rolled back).
        setting: ``auto`` (use the extension when present), ``require`` (fail without it) or ``off``.

    Raises:
        TimescaleRequiredError: ``require`` and the extension cannot be used, with the reason.
    """
    server_version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    if setting == "off":
        _announce("plain", "TimescaleDB disabled by REGIE_TIMESCALEDB=off: plain tables, own rollup jobs")
        return Capabilities(server_version=server_version)
    reason = _ensure_extension(conn)
    if reason is not None:
        if setting == "require":
            raise TimescaleRequiredError(f"TimescaleDB is required but unusable: {reason}")
        _announce(
            "plain",
            f"TimescaleDB not available ({reason}): plain PostgreSQL tables with BRIN indexes, "
            "the project's own rollup refresh and retention jobs",
        )
        return Capabilities(server_version=server_version)
    version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    license_row = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()
    caps = Capabilities(
        timescaledb_version=str(version[0]) if version else None,
        license=str(license_row[0]) if license_row and license_row[0] else "apache",
        server_version=server_version,
    )
    _announce(caps.mode, f"TimescaleDB {caps.timescaledb_version} ({caps.license} licence): mode {caps.mode}")
    return caps


def _ensure_extension(conn: psycopg.Connection) -> str | None:
    """Create the extension if available; return why it cannot be used, or None."""
    row = conn.execute(
        "SELECT installed_version FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    if row is None:
        return "extension not installed on the server"
    if row[0] is not None:
        return None
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except (pg_errors.FeatureNotSupported, pg_errors.InsufficientPrivilege, pg_errors.ObjectNotInPrerequisiteState,
            pg_errors.InternalError_) as exc:
        return f"CREATE EXTENSION failed: {exc.diag.message_primary or exc}"
    return None


def _announce(key: str, message: str) -> None:
    """Log the capability mode once per process."""
    if key not in _announced:
        _announced.add(key)
        log.info(message)
