"""Identifiers checked before they reach an invoice or a bank file.

SIREN/SIRET/VAT numbers with ``python-stdnum`` (Luhn keys, the French VAT key derived from the
SIREN), IBAN/BIC with ``schwifty`` (bundled bank registry, offline), SEPA mandate references against
the EPC character set (the pain.008 XSD does not check it). Each ``normalise_*`` returns the compact
form or raises :class:`ValueError` with a French message naming what is wrong.
"""

from __future__ import annotations

import re

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from stdnum import iso11649, luhn
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.fr import siren as _siren
from stdnum.fr import siret as _siret
from stdnum.fr import tva as _tva
from stdnum.iso7064 import mod_97_10

MANDATE_RE = re.compile(r"^[A-Za-z0-9+?/:().,' -]{1,35}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
POSTCODE_FR_RE = re.compile(r"^\d{5}$")


def normalise_siren(value: str) -> str:
    """A SIREN (9 digits, Luhn key)."""
    try:
        return str(_siren.validate(value))
    except StdnumError as exc:
        raise ValueError(f"SIREN « {value} » invalide (9 chiffres, clé de Luhn)") from exc


def siren_with_key(first_eight: str) -> str:
    """The SIREN whose first eight digits are given, with its Luhn key (invented identifiers: tests,
    the demonstration)."""
    return first_eight + luhn.calc_check_digit(first_eight)


def siret_with_key(siren: str, establishment: int = 1) -> str:
    """The SIRET of a SIREN's establishment number ``establishment`` (NIC with its key)."""
    base = f"{siren}{establishment:04d}"
    return base + luhn.calc_check_digit(base)


def normalise_siret(value: str, siren: str | None = None) -> str:
    """A SIRET (14 digits, Luhn key), which must extend ``siren`` when given."""
    try:
        out = str(_siret.validate(value))
    except StdnumError as exc:
        raise ValueError(f"SIRET « {value} » invalide (14 chiffres, clé de Luhn)") from exc
    if siren is not None and not out.startswith(siren):
        raise ValueError(f"le SIRET {out} n'appartient pas au SIREN {siren}")
    return out


def normalise_vat_fr(value: str, siren: str | None = None) -> str:
    """A French VAT number (FR + 2-character key + SIREN), consistent with ``siren`` when given."""
    try:
        out = str(_tva.validate(value))
    except StdnumError as exc:
        raise ValueError(f"numéro de TVA « {value} » invalide") from exc
    out = out if out.startswith("FR") else f"FR{out}"
    if siren is not None and out[-9:] != siren:
        raise ValueError(f"le numéro de TVA {out} ne correspond pas au SIREN {siren}")
    return out


def vat_fr_for(siren: str) -> str:
    """The French intra-community VAT number of a SIREN: FR + (12 + 3 × (SIREN mod 97)) mod 97."""
    key = (12 + 3 * (int(siren) % 97)) % 97
    return f"FR{key:02d}{siren}"


def normalise_iban(value: str) -> str:
    """An IBAN, compact and upper-case, with a valid checksum and a known country format."""
    try:
        return str(IBAN(value).compact)
    except SchwiftyException as exc:
        raise ValueError(f"IBAN « {value} » invalide ({exc})") from exc


def normalise_bic(value: str) -> str:
    """A BIC (8 or 11 characters, known format)."""
    try:
        return str(BIC(value).compact)
    except SchwiftyException as exc:
        raise ValueError(f"BIC « {value} » invalide ({exc})") from exc


def bic_for_iban(iban: str) -> str | None:
    """The BIC of an IBAN's bank from schwifty's bundled registry, or None when unknown."""
    try:
        bic = IBAN(iban).bic
    except SchwiftyException:
        return None
    return str(bic.compact) if bic is not None else None


def normalise_mandate_reference(value: str) -> str:
    """A SEPA mandate reference: 1-35 characters of the EPC set, not starting with '/' nor holding '//'."""
    if not MANDATE_RE.match(value) or value.startswith("/") or "//" in value:
        raise ValueError(f"référence de mandat « {value} » invalide (1 à 35 caractères A-Z a-z 0-9 + ? / - : ( ) . , ' "
                         "espace ; ni « / » initial ni « // »)")
    return value


def creditor_id_for(national_id: str, country: str = "FR", business_code: str = "ZZZ") -> str:
    """A SEPA creditor identifier (ICS): country, 2 check digits (ISO 7064 mod 97-10 over the national
    identifier and the country), business code, national identifier."""
    digits = "".join(str(int(ch, 36)) for ch in f"{national_id}{country}00".upper())
    return f"{country}{98 - int(digits) % 97:02d}{business_code}{national_id}".upper()


def normalise_creditor_id(value: str) -> str:
    """A SEPA creditor identifier whose check digits are right (the business code is not checked)."""
    compact = value.replace(" ", "").upper()
    if not re.match(r"^[A-Z]{2}\d{2}[A-Z0-9]{3}[A-Z0-9]{1,28}$", compact) or \
            creditor_id_for(compact[7:], compact[:2], compact[4:7]) != compact:
        raise ValueError(f"identifiant créancier SEPA « {value} » invalide (clé de contrôle)")
    return compact


def normalise_email(value: str) -> str:
    if not EMAIL_RE.match(value.strip()):
        raise ValueError(f"adresse électronique « {value} » invalide")
    return value.strip()


def normalise_postcode(value: str, country: str = "FR") -> str:
    value = value.strip()
    if country == "FR" and not POSTCODE_FR_RE.match(value):
        raise ValueError(f"code postal « {value} » invalide (5 chiffres)")
    return value


def creditor_reference(invoice_number: str) -> str:
    """The structured creditor reference (ISO 11649, ``RF`` + 2 check digits + the invoice number's letters
    and digits) printed on an invoice and carried in its Factur-X payment reference: a bank transfer that
    quotes it is matched to the invoice without doubt."""
    body = re.sub(r"[^0-9A-Za-z]", "", invoice_number).upper()
    if not 1 <= len(body) <= 21:
        raise ValueError(f"numéro de facture « {invoice_number} » : 1 à 21 lettres ou chiffres pour une référence RF")
    return f"RF{mod_97_10.calc_check_digits(body + 'RF')}{body}"


def find_creditor_reference(text: str) -> str | None:
    """A valid ISO 11649 reference found in free text (a transfer's remittance information), compacted."""
    for candidate in re.findall(r"RF\s?\d{2}(?:\s?[0-9A-Za-z]){1,21}", text.upper()):
        compact = iso11649.compact(candidate)
        for end in range(len(compact), 4, -1):  # the reference may run into the next word
            if iso11649.is_valid(compact[:end]):
                return compact[:end]
    return None
