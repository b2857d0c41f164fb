"""Errors of the telemetry package; each names the file, point, field or device concerned."""

from __future__ import annotations


class TelemetryError(Exception):
    """Base class of telemetry errors."""


class ProfileError(TelemetryError):
    """A device profile is invalid: names the file, the point and the field."""

    def __init__(self, path: str, point: str | None, field: str, message: str) -> None:
        self.path, self.point, self.field = path, point, field
        where = f"{path}: point {point!r}" if point else path
        super().__init__(f"{where}: {field}: {message}")


class UnknownProfileError(TelemetryError):
    """A device names a profile that does not exist."""


class DecodeError(TelemetryError):
    """Registers could not be decoded (wrong count for the data type)."""


class BufferFullError(TelemetryError):
    """The store-and-forward buffer reached its bound (the oldest batches are dropped)."""
