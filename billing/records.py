"""Creating and changing billing records, validated first: every problem is reported (in French, with
its field) and nothing is written unless all is right.

Subscribers, SEPA mandates, contracts and their subscribed power, and meter readings entered by hand.
The régie's own data (identity, VAT periods, reductions, CO2 figures) is in :mod:`billing.regie`;
tariffs, index values and indexation formulas come in through :mod:`billing.imports`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

from billing import fr, identifiers
from billing.errors import FieldError, NotFoundError, ValidationError
from billing.money import dec
from billing.pes import codes
from billing.runs import audit

SUBSCRIBER_FIELDS = ("code", "name", "siren", "siret", "vat_number", "address_line1", "address_line2", "postcode",
                     "city", "country", "email", "phone", "public_entity", "chorus_service_code", "chorus_engagement",
                     "helios_category", "helios_legal_nature")
FREQUENCIES = ("monthly", "quarterly", "yearly")
PAYMENT_METHODS = ("sepa", "transfer")


class FieldChecker:
    """Collects field errors while reading a mapping of raw values (strings from forms or files)."""

    def __init__(self, data: Mapping[str, Any], line: int | None = None) -> None:
        self.data, self.line = data, line
        self.errors: list[FieldError] = []

    def fail(self, field: str, message: str) -> None:
        self.errors.append(FieldError(field, message, self.line))

    def text(self, field: str, required: bool = True) -> str | None:
        value = self.data.get(field)
        value = str(value).strip() if value is not None else ""
        if not value:
            if required:
                self.fail(field, "obligatoire")
            return None
        return value

    def check(self, field: str, fn: Callable[[str], Any], required: bool = True) -> Any:
        value = self.text(field, required)
        if value is None:
            return None
        try:
            return fn(value)
        except (ValueError, ArithmeticError) as exc:
            self.fail(field, str(exc))
            return None

    def decimal(self, field: str, required: bool = True, minimum: Decimal | None = None,
                maximum: Decimal | None = None, positive: bool = False) -> Decimal | None:
        value: Decimal | None = self.check(
            field, lambda v: dec(v.replace(",", ".").replace("\u202f", "").replace(" ", "")), required)
        if value is None:
            return None
        if positive and value <= 0:
            self.fail(field, f"{fr.number(value)} : doit être strictement positif")
        elif minimum is not None and value < minimum:
            self.fail(field, f"{fr.number(value)} : au moins {fr.number(minimum)}")
        elif maximum is not None and value > maximum:
            self.fail(field, f"{fr.number(value)} : au plus {fr.number(maximum)}")
        return value

    def day(self, field: str, required: bool = True) -> date | None:
        return self.check(field, _parse_date, required)  # type: ignore[no-any-return]

    def choice(self, field: str, options: tuple[str, ...], default: str | None = None) -> str | None:
        value = self.text(field, required=default is None) or default
        if value is not None and value not in options:
            self.fail(field, f"« {value} » n'est pas une valeur permise ({', '.join(options)})")
        return value

    def flag(self, field: str) -> bool:
        value = str(self.data.get(field) or "").strip().lower()
        if value in ("", "0", "false", "non", "no", "off"):
            return False
        if value in ("1", "true", "oui", "yes", "on"):
            return True
        self.fail(field, f"« {value} » n'est ni oui ni non")
        return False

    def raise_if_any(self, source: str | None = None) -> None:
        if self.errors:
            raise ValidationError(self.errors, source)


def _parse_date(value: str) -> date:
    for parse in (date.fromisoformat, lambda v: datetime.strptime(v, "%d/%m/%Y").date()):
        try:
            return parse(value)
        except ValueError:
            continue
    raise ValueError(f"date « {value} » invalide (AAAA-MM-JJ ou JJ/MM/AAAA)")


def validate_subscriber(data: Mapping[str, Any], line: int | None = None) -> tuple[dict[str, Any], list[FieldError]]:
    """Normalised subscriber values and the problems found."""
    c = FieldChecker(data, line)
    out: dict[str, Any] = {"code": c.check("code", _code), "name": c.text("name")}
    siren = c.check("siren", identifiers.normalise_siren, required=False)
    out["siren"] = siren
    out["siret"] = c.check("siret", lambda v: identifiers.normalise_siret(v, siren), required=False)
    out["vat_number"] = c.check("vat_number", lambda v: identifiers.normalise_vat_fr(v, siren), required=False)
    if siren and not out["vat_number"] and not c.errors:
        out["vat_number"] = identifiers.vat_fr_for(siren)
    out["address_line1"] = c.text("address_line1")
    out["address_line2"] = c.text("address_line2", required=False)
    out["country"] = (c.text("country", required=False) or "FR").upper()
    out["postcode"] = c.check("postcode", lambda v: identifiers.normalise_postcode(v, out["country"]))
    out["city"] = c.text("city")
    out["email"] = c.check("email", identifiers.normalise_email, required=False)
    out["phone"] = c.text("phone", required=False)
    out["public_entity"] = c.flag("public_entity")
    out["chorus_service_code"] = c.text("chorus_service_code", required=False)
    out["chorus_engagement"] = c.text("chorus_engagement", required=False)
    if out["public_entity"] and not out["siret"]:
        c.fail("siret", "obligatoire pour une entité publique (Chorus Pro)")
    out["helios_category"] = c.text("helios_category", required=False)
    out["helios_legal_nature"] = c.text("helios_legal_nature", required=False)
    if out["helios_category"] or out["helios_legal_nature"]:
        _check_helios(c, out)
    return out, c.errors


def _check_helios(c: FieldChecker, out: dict[str, Any]) -> None:
    """The debtor's CatTiers and NatJur for the titres (both or neither; a pair the DGFiP's grid allows)."""
    category, nature = out["helios_category"], out["helios_legal_nature"]
    if not category or not nature:
        c.fail("helios_category" if not category else "helios_legal_nature",
               "catégorie de tiers et nature juridique vont ensemble : indiquez les deux ou aucune")
        return
    problem = codes.check_pair(category, nature)
    if problem:
        c.fail("helios_legal_nature" if category in codes.CATEGORIES else "helios_category", problem)
    elif out["public_entity"] != (category in codes.PUBLIC_CATEGORIES):
        c.fail("helios_category", f"la catégorie {category} ({codes.CATEGORIES[category]}) "
               + ("n'est pas celle d'une entité publique" if out["public_entity"] else
                  "est celle d'une entité publique : indiquez « Entité publique : oui » ou une autre catégorie"))


def _code(value: str) -> str:
    if not value.replace("-", "").replace("_", "").replace(".", "").isalnum() or len(value) > 64:
        raise ValueError(f"code « {value} » invalide (lettres, chiffres, - _ .)")
    return value


def save_subscriber(conn: psycopg.Connection, data: Mapping[str, Any], *, actor: str,
                    subscriber_id: int | None = None) -> int:
    """Create (or update, given ``subscriber_id``) a subscriber.

    Raises:
        ValidationError: every problem, nothing written.
    """
    values, errors = validate_subscriber(data)
    if errors:
        raise ValidationError(errors)
    with conn.transaction():
        clash = conn.execute("SELECT id FROM subscribers WHERE code = %s AND id IS DISTINCT FROM %s",
                             (values["code"], subscriber_id)).fetchone()
        if clash:
            raise ValidationError([FieldError("code", f"le code {values['code']} est déjà pris")])
        cols = list(SUBSCRIBER_FIELDS)
        if subscriber_id is None:
            row = conn.execute(sql.SQL("INSERT INTO subscribers ({}) VALUES ({}) RETURNING id").format(
                sql.SQL(", ").join(map(sql.Identifier, cols)), sql.SQL(", ").join(sql.Placeholder() * len(cols))),
                [values[k] for k in cols]).fetchone()
        else:
            row = conn.execute(sql.SQL("UPDATE subscribers SET ({}) = ({}), updated_at = now() WHERE id = %s "
                                       "RETURNING id").format(
                sql.SQL(", ").join(map(sql.Identifier, cols)), sql.SQL(", ").join(sql.Placeholder() * len(cols))),
                [*[values[k] for k in cols], subscriber_id]).fetchone()
            if row is None:
                raise NotFoundError(f"abonné {subscriber_id} inconnu")
        assert row is not None  # noqa: S101
        new_id = int(row[0])
        audit(conn, actor, "created" if subscriber_id is None else "updated", "subscriber", new_id,
              {"code": values["code"]})
    return new_id


def save_mandate(conn: psycopg.Connection, data: Mapping[str, Any], *, actor: str) -> int:
    """Record a SEPA mandate of a subscriber (``subscriber`` code, ``reference``, ``signed_on``, ``iban``,
    optional ``bic``: found from the IBAN when omitted).

    Raises:
        ValidationError: every problem, nothing written.
    """
    c = FieldChecker(data)
    reference = c.check("reference", identifiers.normalise_mandate_reference)
    signed_on = c.day("signed_on")
    iban = c.check("iban", identifiers.normalise_iban)
    bic = c.check("bic", identifiers.normalise_bic, required=False) or (iban and identifiers.bic_for_iban(iban))
    if iban and not bic:
        c.fail("bic", "BIC introuvable pour cet IBAN : le saisir")
    subscriber = _subscriber_id(conn, c, data.get("subscriber"))
    c.raise_if_any()
    with conn.transaction():
        if conn.execute("SELECT 1 FROM sepa_mandates WHERE reference = %s", (reference,)).fetchone():
            raise ValidationError([FieldError("reference", f"le mandat {reference} existe déjà")])
        row = conn.execute("INSERT INTO sepa_mandates (subscriber_id, reference, signed_on, iban, bic) "
                           "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                           (subscriber, reference, signed_on, iban, bic)).fetchone()
        assert row is not None  # noqa: S101
        audit(conn, actor, "created", "sepa_mandate", int(row[0]), {"reference": reference})
    return int(row[0])


def _subscriber_id(conn: psycopg.Connection, c: FieldChecker, code: Any) -> int | None:
    if not code:
        c.fail("subscriber", "obligatoire")
        return None
    row = conn.execute("SELECT id FROM subscribers WHERE code = %s", (str(code),)).fetchone()
    if row is None:
        c.fail("subscriber", f"abonné {code} inconnu")
        return None
    return int(row[0])


def save_contract(conn: psycopg.Connection, data: Mapping[str, Any], *, actor: str) -> int:
    """Create a contract (``number``, ``subscriber``, ``delivery_point`` codes, ``category``, ``start_date``,
    optional ``end_date``, ``frequency``, ``payment_method``, ``mandate`` reference, ``power_kw``).

    Raises:
        ValidationError: every problem, nothing written.
    """
    c = FieldChecker(data)
    number = c.check("number", _code)
    start = c.day("start_date")
    end = c.day("end_date", required=False)
    if start and end and end < start:
        c.fail("end_date", "antérieure à la date de début")
    frequency = c.choice("frequency", FREQUENCIES, "monthly")
    method = c.choice("payment_method", PAYMENT_METHODS, "transfer")
    power = c.decimal("power_kw", positive=True, maximum=Decimal(1_000_000))
    subscriber = _subscriber_id(conn, c, data.get("subscriber"))
    category = c.text("category")
    if category and conn.execute("SELECT 1 FROM tariff_categories WHERE code = %s", (category,)).fetchone() is None:
        c.fail("category", f"catégorie tarifaire {category} inconnue")
    dp_code = c.text("delivery_point")
    dp = conn.execute("SELECT id FROM delivery_points WHERE code = %s", (dp_code,)).fetchone() if dp_code else None
    if dp_code and dp is None:
        c.fail("delivery_point", f"point de livraison {dp_code} inconnu")
    mandate = None
    if method == "sepa":
        ref = c.text("mandate")
        found = conn.execute("SELECT id, subscriber_id, status FROM sepa_mandates WHERE reference = %s",
                             (ref,)).fetchone() if ref else None
        if ref and found is None:
            c.fail("mandate", f"mandat {ref} inconnu")
        elif found is not None and (found[1] != subscriber or found[2] != "active"):
            c.fail("mandate", f"le mandat {ref} n'est pas un mandat actif de cet abonné")
        mandate = found[0] if found else None
    if dp is not None and start is not None:
        overlap = conn.execute(
            "SELECT number FROM contracts WHERE delivery_point_id = %s AND start_date <= coalesce(%s, 'infinity'::date)"
            " AND coalesce(end_date, 'infinity'::date) >= %s AND number <> %s", (dp[0], end, start, number)).fetchone()
        if overlap:
            c.fail("delivery_point", f"le point de livraison a déjà le contrat {overlap[0]} sur cette période")
    if number and conn.execute("SELECT 1 FROM contracts WHERE number = %s", (number,)).fetchone():
        c.fail("number", f"le contrat {number} existe déjà")
    c.raise_if_any()
    assert dp is not None  # noqa: S101  (checked above)
    with conn.transaction():
        row = conn.execute(
            """INSERT INTO contracts (number, subscriber_id, delivery_point_id, category, start_date, end_date,
                   frequency, payment_method, mandate_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
            (number, subscriber, dp[0], category, start, end, frequency, method, mandate)).fetchone()
        assert row is not None  # noqa: S101
        contract_id = int(row[0])
        conn.execute("INSERT INTO contract_powers (contract_id, valid_from, power_kw, reason) "
                     "VALUES (%s, %s, %s, 'souscription')", (contract_id, start, power))
        conn.execute("UPDATE delivery_points SET subscribed_power_kw = %s WHERE id = %s", (power, dp[0]))
        audit(conn, actor, "created", "contract", contract_id, {"number": number, "power_kw": str(power)})
    return contract_id


def change_power(conn: psycopg.Connection, contract_number: str, valid_from: date, power_kw: Decimal, reason: str,
                 *, actor: str) -> list[str]:
    """A new subscribed power from ``valid_from`` on (its history is kept); returns warnings (French): a
    date inside a period already invoiced is accepted, and the difference is regularised on the next
    invoice.

    Raises:
        ValidationError: unknown contract, power not positive, or a date outside the contract.
    """
    row = conn.execute("SELECT id, start_date, end_date, delivery_point_id FROM contracts WHERE number = %s",
                       (contract_number,)).fetchone()
    errors = []
    if row is None:
        errors.append(FieldError("contract", f"contrat {contract_number} inconnu"))
    elif valid_from < row[1] or (row[2] is not None and valid_from > row[2]):
        errors.append(FieldError("valid_from", "hors de la période du contrat"))
    if not Decimal(0) < power_kw <= Decimal(1_000_000):
        errors.append(FieldError("power_kw", "doit être strictement positive (1 000 000 kW au plus)"))
    if not reason.strip():
        errors.append(FieldError("reason", "obligatoire (demande de l'abonné, audit de puissance...)"))
    if errors:
        raise ValidationError(errors)
    assert row is not None  # noqa: S101
    invoiced = conn.execute("SELECT number, period_end - 1 FROM invoices WHERE contract_id = %s AND status = 'issued' "
                            "AND kind = 'invoice' AND period_end > %s ORDER BY period_end DESC LIMIT 1",
                            (row[0], valid_from)).fetchone()
    warnings = [f"la facture {invoiced[0]} couvre déjà la période jusqu'au {fr.day(invoiced[1])} : la différence "
                "d'abonnement (R2) sera régularisée sur la prochaine facture"] if invoiced else []
    with conn.transaction():
        conn.execute("INSERT INTO contract_powers (contract_id, valid_from, power_kw, reason) VALUES (%s, %s, %s, %s) "
                     "ON CONFLICT (contract_id, valid_from) DO UPDATE SET power_kw = EXCLUDED.power_kw, "
                     "reason = EXCLUDED.reason", (row[0], valid_from, power_kw, reason))
        conn.execute("UPDATE delivery_points SET subscribed_power_kw = (SELECT power_kw FROM contract_powers "
                     "WHERE contract_id = %s ORDER BY valid_from DESC LIMIT 1) WHERE id = %s", (row[0], row[3]))
        audit(conn, actor, "power_changed", "contract", int(row[0]),
              {"valid_from": valid_from.isoformat(), "power_kw": str(power_kw), "reason": reason,
               "warnings": warnings})
    return warnings


def write_remote_readings(conn: psycopg.Connection, rows: list[tuple[int, datetime, Decimal, datetime]]) -> int:
    """Store remote readings at period boundaries: (meter id, boundary, index [kWh], sample time).
    A later replay of the same boundary updates it (the collector's buffer may deliver late)."""
    with conn.transaction(), conn.cursor() as cur:  # one COPY, then one statement: a run stores thousands
        cur.execute("DROP TABLE IF EXISTS pg_temp.remote_readings_in")  # left by an enclosing transaction
        cur.execute("CREATE TEMPORARY TABLE remote_readings_in (meter_id bigint, at timestamptz, "
                    "index_kwh numeric, sampled_at timestamptz) ON COMMIT DROP")
        with cur.copy("COPY remote_readings_in (meter_id, at, index_kwh, sampled_at) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute("INSERT INTO meter_readings (meter_id, at, index_kwh, kind, source, sampled_at) "
                    "SELECT meter_id, at, index_kwh, 'actual', 'télérelève', sampled_at FROM remote_readings_in "
                    "ON CONFLICT (meter_id, at, kind) DO UPDATE SET index_kwh = EXCLUDED.index_kwh, "
                    "sampled_at = EXCLUDED.sampled_at WHERE (meter_readings.index_kwh, meter_readings.sampled_at) "
                    "IS DISTINCT FROM (EXCLUDED.index_kwh, EXCLUDED.sampled_at)")
    return len(rows)


