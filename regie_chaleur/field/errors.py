"""Errors of field operations; each says in French what is wrong (it is shown to operators and
subscribers as it is)."""

from __future__ import annotations

from regie_chaleur.errors import RegieError


class FieldOperationError(RegieError):
    """Base class; the API answers 400."""

    status = 400


class UnknownError(FieldOperationError):
    """The order, request, outage, person or place named does not exist (or is not the caller's)."""

    status = 404


class StateError(FieldOperationError):
    """What was asked is not allowed in the object's state (e.g. closing a cancelled order)."""

    status = 409


class InputError(FieldOperationError):
    """A value is missing or out of range (the message names the field)."""

    status = 422
