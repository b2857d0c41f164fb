"""The régie's own billing data: its identity on documents, the VAT periods of each network (from its
renewable-and-recovered share), category reductions voted by deliberation, the published CO2 figures."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from billing import fr, identifiers
from billing.errors import FieldError, ValidationError
from billing.records import FieldChecker
from billing.runs import audit
from billing.succession import vat_rates_on, vat_succession

ISSUER_FIELDS = ("name", "legal_form", "siren", "siret", "vat_number", "address_line1", "address_line2", "postcode",
                 "city", "country", "email", "phone", "website", "iban", "bic", "sepa_creditor_id",
                 "payment_terms_days", "late_payment_text", "recourse_text", "complaints_text", "accountant")


def save_issuer(conn: psycopg.Connection, data: Mapping[str, Any], *, actor: str) -> None:
    """Set the régie's identity shown on every document (one row).

    Raises:
        ValidationError: every problem, nothing written.
    """
    c = FieldChecker(data)
    siren = c.check("siren", identifiers.normalise_siren)
    terms = c.decimal("payment_terms_days", minimum=Decimal(0), maximum=Decimal(60))
    checked: dict[str, Any] = {
        "siren": siren,
        "siret": c.check("siret", lambda v: identifiers.normalise_siret(v, siren)),
        "vat_number": c.check("vat_number", lambda v: identifiers.normalise_vat_fr(v, siren), required=False)
        or (identifiers.vat_fr_for(siren) if siren else None),
        "iban": c.check("iban", identifiers.normalise_iban),
        "bic": c.check("bic", identifiers.normalise_bic),
        "email": c.check("email", identifiers.normalise_email),
        "sepa_creditor_id": c.check("sepa_creditor_id", identifiers.normalise_creditor_id),
        "payment_terms_days": int(terms) if terms is not None else None,
        "country": (c.text("country", required=False) or "FR").upper(),
    }
    values = {k: checked[k] if k in checked else c.text(k, required=k not in ("address_line2", "phone", "website"))
              for k in ISSUER_FIELDS}
    c.raise_if_any()
    cols = list(ISSUER_FIELDS)
    with conn.transaction():
        conn.execute(sql.SQL("INSERT INTO billing_issuer ({}) VALUES ({}) ON CONFLICT (id) DO UPDATE SET ({}) = ({})")
                     .format(sql.SQL(", ").join(map(sql.Identifier, cols)),
                             sql.SQL(", ").join(sql.Placeholder() * len(cols)),
                             sql.SQL(", ").join(map(sql.Identifier, cols)),
                             sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(k)) for k in cols)),
                     [values[k] for k in cols])
        audit(conn, actor, "updated", "billing_issuer", None, {"name": values["name"]})


def save_vat_period(conn: psycopg.Connection, network: str, valid_from: date, valid_to: date | None,
                    renewable_share_pct: Decimal, justification: str, *, actor: str) -> tuple[Decimal, Decimal]:
    """Record a network's renewable-and-recovered share from ``valid_from`` and the VAT rates that follow
    (the rates in force that day, ``vat_rates``). An open-ended period before it ends on ``valid_from``.

    Raises:
        ValidationError: unknown network, share outside 0-100 %, no justification, an overlap, or an
            issued invoice that took the period it would end past that date (named).
    """
    errors = []
    if conn.execute("SELECT 1 FROM networks WHERE code = %s", (network,)).fetchone() is None:
        errors.append(FieldError("network", f"réseau {network} inconnu"))
    if not 0 <= renewable_share_pct <= 100:
        errors.append(FieldError("renewable_share_pct", "doit être entre 0 et 100 %"))
    if not justification.strip():
        errors.append(FieldError("justification", "obligatoire (bilan énergétique, arrêté, attestation...)"))
    if valid_to is not None and valid_to <= valid_from:
        errors.append(FieldError("valid_to", "doit suivre le début de la période"))
    if conn.execute("SELECT 1 FROM vat_periods WHERE network = %s AND valid_from = %s",
                    (network, valid_from)).fetchone():
        errors.append(FieldError("valid_from", f"une période de TVA du réseau {network} commence déjà le "
                                               f"{fr.day(valid_from)}"))
    ended, problems = vat_succession(conn, network, valid_from, valid_to)
    errors += [FieldError("valid_from", p) for p in problems]
    if errors:
        raise ValidationError(errors)
    r1, r2 = vat_rates_on(conn, renewable_share_pct, valid_from)
    with conn.transaction():
        if ended is not None:
            conn.execute("UPDATE vat_periods SET valid_to = %s WHERE id = %s", (valid_from, ended))
            audit(conn, actor, "closed", "vat_period", ended, {"network": network, "valid_to": valid_from.isoformat()})
        conn.execute(
            """INSERT INTO vat_periods (network, valid_from, valid_to, renewable_share_pct, rate_r1_pct, rate_r2_pct,
                   justification) VALUES (%s, %s, %s, %s, %s, %s, %s)""",
            (network, valid_from, valid_to, renewable_share_pct, r1, r2, justification))
        audit(conn, actor, "created", "vat_period", None,
              {"network": network, "valid_from": valid_from.isoformat(), "share": str(renewable_share_pct),
               "rate_r1": str(r1), "rate_r2": str(r2)})
    return r1, r2


def save_reduction(conn: psycopg.Connection, category: str, valid_from: date, valid_to: date | None,
                   percent: Decimal, applies_to: str, deliberation: str, label: str = "Réduction sociale",
                   *, actor: str) -> None:
    """A reduction of ``percent`` [%] on R1, R2 or both voted for a whole tariff category from
    ``valid_from`` (to the day before ``valid_to``).

    Raises:
        ValidationError: every problem (unknown category, percent outside 0-100, no deliberation, an end
            before the start, a reduction of the category already starting that day), nothing written.
    """
    errors = []
    if conn.execute("SELECT 1 FROM tariff_categories WHERE code = %s", (category,)).fetchone() is None:
        errors.append(FieldError("category", f"catégorie {category} inconnue"))
    if not 0 < percent <= 100:
        errors.append(FieldError("percent", f"{fr.number(percent)} % : doit être au-dessus de 0 et au plus 100 %"))
    if applies_to not in ("R1", "R2", "R1R2"):
        errors.append(FieldError("applies_to", "R1, R2 ou R1R2"))
    if not deliberation.strip():
        errors.append(FieldError("deliberation", "obligatoire : la délibération qui la vote"))
    if valid_to is not None and valid_to <= valid_from:
        errors.append(FieldError("valid_to", "doit suivre le début"))
    if conn.execute("SELECT 1 FROM category_reductions WHERE category = %s AND valid_from = %s",
                    (category, valid_from)).fetchone():
        errors.append(FieldError("valid_from", f"une réduction de {category} commence déjà le {fr.day(valid_from)}"))
    if errors:
        raise ValidationError(errors)
    with conn.transaction():
        conn.execute("INSERT INTO category_reductions (category, valid_from, valid_to, percent, applies_to, "
                     "deliberation, label) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                     (category, valid_from, valid_to, percent, applies_to, deliberation, label))
        audit(conn, actor, "created", "category_reduction", None,
              {"category": category, "percent": str(percent), "deliberation": deliberation})


def save_disclosure(conn: psycopg.Connection, network: str, year: int, co2_g_per_kwh: Decimal,
                    mix: dict[str, Decimal], renewable_share_pct: Decimal, source: str, *, actor: str) -> None:
    """A network's published figures for a year, printed on its invoices (EU billing information): the
    energy mix [%] (summing to 100), the CO2 content [g/kWh delivered], the renewable-and-recovered share.

    Raises:
        ValidationError: every problem, nothing written.
    """
    errors = []
    if conn.execute("SELECT 1 FROM networks WHERE code = %s", (network,)).fetchone() is None:
        errors.append(FieldError("network", f"réseau {network} inconnu"))
    if abs(sum(mix.values(), Decimal(0)) - 100) > Decimal("0.5"):
        errors.append(FieldError("mix", f"les parts du bouquet énergétique font {sum(mix.values())} %, pas 100 %"))
    if co2_g_per_kwh < 0 or not 0 <= renewable_share_pct <= 100:
        errors.append(FieldError("co2_g_per_kwh", "contenu CO2 négatif ou part renouvelable hors de 0-100 %"))
    if not source.strip():
        errors.append(FieldError("source", "obligatoire (arrêté DPE, rapport annuel du réseau...)"))
    if errors:
        raise ValidationError(errors)
    with conn.transaction():
        conn.execute("INSERT INTO network_disclosures (network, year, co2_g_per_kwh, mix, renewable_share_pct, source) "
                     "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (network, year) DO UPDATE SET "
                     "co2_g_per_kwh = EXCLUDED.co2_g_per_kwh, mix = EXCLUDED.mix, "
                     "renewable_share_pct = EXCLUDED.renewable_share_pct, source = EXCLUDED.source",
                     (network, year, co2_g_per_kwh, Jsonb({k: float(v) for k, v in mix.items()}),
                      renewable_share_pct, source))
        audit(conn, actor, "disclosure_saved", "network", None, {"network": network, "year": year})


POLICY_FIELDS = ("r2_proration", "unit_price_places", "implausible_factor", "reading_window_hours", "estimation")


def save_policy(conn: psycopg.Connection, network: str | None, data: Mapping[str, Any], *, actor: str) -> None:
    """Set the régie's default billing policy (``network`` None) or a network's own: ``r2_proration``
    (``monthly_twelfth`` or ``days_in_year``), ``unit_price_places`` (2-6), ``implausible_factor``,
    ``reading_window_hours`` (1-168), ``estimation`` (``degree_days`` or ``recent_average``).

    Raises:
        ValidationError: every problem, nothing written.
    """
    c = FieldChecker(data)
    values = {
        "r2_proration": c.choice("r2_proration", ("monthly_twelfth", "days_in_year"), "monthly_twelfth"),
        "unit_price_places": c.decimal("unit_price_places", minimum=Decimal(2), maximum=Decimal(6)),
        "implausible_factor": c.decimal("implausible_factor", minimum=Decimal(1), maximum=Decimal(100)),
        "reading_window_hours": c.decimal("reading_window_hours", minimum=Decimal(1), maximum=Decimal(168)),
        "estimation": c.choice("estimation", ("degree_days", "recent_average"), "degree_days"),
    }
    places, window = values["unit_price_places"], values["reading_window_hours"]
    for key, value in (("unit_price_places", places), ("reading_window_hours", window)):
        if isinstance(value, Decimal) and value != int(value):
            c.fail(key, "un nombre entier est attendu")
    if network is not None and conn.execute("SELECT 1 FROM networks WHERE code = %s", (network,)).fetchone() is None:
        c.fail("network", f"réseau {network} inconnu")
    c.raise_if_any()
    assert isinstance(places, Decimal) and isinstance(window, Decimal)  # noqa: S101  (checked above)
    row = [values["r2_proration"], int(places), values["implausible_factor"], int(window), values["estimation"]]
    with conn.transaction():
        if network is None:
            conn.execute("UPDATE billing_policy SET r2_proration = %s, unit_price_places = %s, "
                         "implausible_factor = %s, reading_window_hours = %s, estimation = %s", row)
        else:
            conn.execute("INSERT INTO network_billing_policies (network, r2_proration, unit_price_places, "
                         "implausible_factor, reading_window_hours, estimation, updated_by) "
                         "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (network) DO UPDATE SET "
                         "r2_proration = EXCLUDED.r2_proration, unit_price_places = EXCLUDED.unit_price_places, "
                         "implausible_factor = EXCLUDED.implausible_factor, "
                         "reading_window_hours = EXCLUDED.reading_window_hours, estimation = EXCLUDED.estimation, "
                         "updated_by = EXCLUDED.updated_by, updated_at = now()", [network, *row, actor])
        audit(conn, actor, "policy_saved", "network" if network else "billing_policy", None,
              {"network": network, **{k: str(v) for k, v in zip(POLICY_FIELDS, row, strict=True)}})
