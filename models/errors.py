"""Errors of the models package."""


class ModelError(Exception):
    """Base class of model errors (bad input data, a fit that cannot proceed)."""
