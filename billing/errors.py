"""Errors of the billing package."""


class BillingError(Exception):
    """Base class of billing errors."""
