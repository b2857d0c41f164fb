"""Errors of the application layer. Each names what is wrong (a setting, a file line, a table)."""

from __future__ import annotations

from dataclasses import dataclass


class RegieError(Exception):
    """Base class of the application's errors."""


class SettingsError(RegieError):
    """The configuration is unusable (a default secret in production, a bad value, a missing file)."""


class DatabaseUnavailableError(RegieError):
    """The database cannot be reached or started."""


class TimescaleRequiredError(RegieError):
    """TimescaleDB was required (REGIE_TIMESCALEDB=require) but the extension is not available."""


class MigrationError(RegieError):
    """A migration failed; the transaction of that migration was rolled back."""


@dataclass(frozen=True)
class RowError:
    """One problem in one row of an imported file."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


class ImportValidationError(RegieError):
    """An imported file has bad rows; nothing was written. Carries every problem found."""

    def __init__(self, path: str, errors: list[RowError]) -> None:
        self.path = path
        self.errors = errors
        lines = "\n".join(f"  {path}:{e}" for e in errors)
        super().__init__(f"{path}: {len(errors)} error(s), nothing imported:\n{lines}")
