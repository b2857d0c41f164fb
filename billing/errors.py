"""Errors of the billing package.

Messages are in French: billing staff read them (forms, the review list of a bill run, the command
line). Each names what is wrong: the field, the file line, the contract, the invoice.
"""

from __future__ import annotations

from dataclasses import dataclass


class BillingError(Exception):
    """Base class of billing errors."""


@dataclass(frozen=True)
class FieldError:
    """One problem with one field (of a form, or of a line of an imported file when ``line`` is set)."""

    field: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"ligne {self.line} : " if self.line is not None else ""
        return f"{where}{self.field} : {self.message}"


class ValidationError(BillingError):
    """Input data is invalid; nothing was written. Carries every problem found, not only the first."""

    def __init__(self, errors: list[FieldError], source: str | None = None) -> None:
        self.errors = errors
        self.source = source
        head = f"{source} : " if source else ""
        lines = "\n".join(f"  {e}" for e in errors)
        super().__init__(f"{head}{len(errors)} erreur(s), rien n'a été enregistré :\n{lines}")


class NotFoundError(BillingError):
    """The named object (invoice, run, contract, subscriber) does not exist."""


class StateError(BillingError):
    """The operation is not allowed in the object's current state (e.g. crediting a draft)."""


class ContractException(BillingError):
    """A contract cannot be billed for a period as it is: an item of the run's review list.

    ``code`` is stable (for filters and tests); the message is for billing staff. A blocking exception
    means no invoice for this contract in this run; a non-blocking one (``blocking=False``) is a
    warning attached to a drafted invoice (for instance: an estimated reading was used).
    """

    def __init__(self, code: str, message: str, *, blocking: bool = True) -> None:
        self.code = code
        self.message = message
        self.blocking = blocking
        super().__init__(f"{code}: {message}")


#: review-list items in words, as billing staff read them (the codes stay stable for filters and tests)
EXCEPTION_LABELS = {
    "warning": "à noter", "implausible_consumption": "consommation invraisemblable",
    "index_missing": "index manquant", "meter_mismatch": "compteur incohérent", "missing_reading": "relevé manquant",
    "missing_start_reading": "index de début manquant", "negative_consumption": "consommation négative",
    "negative_total": "montant négatif", "no_meter": "pas de compteur", "no_power": "puissance souscrite manquante",
    "no_tariff": "pas de tarif", "no_vat_period": "pas de taux de TVA", "not_supplied": "hors période du contrat",
    "regularisation_without_price": "régularisation sans prix", "index_value_missing": "indice non publié",
}


def exception_label(code: str) -> str:
    """A review-list code in French words."""
    return EXCEPTION_LABELS.get(code, code.replace("_", " "))


class PesError(BillingError):
    """A PES V2 file cannot be built or read: what the schema or the data says is wrong."""


class BankError(BillingError):
    """A bank file (statement, return) cannot be read: what is wrong with it."""


class PayfipError(BillingError):
    """PayFiP could not be reached or refused the request (the reason in French)."""
