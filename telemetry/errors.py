"""Errors of the telemetry package."""


class TelemetryError(Exception):
    """Base class of telemetry errors."""
