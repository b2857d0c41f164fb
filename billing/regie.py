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

from billing import identifiers
from billing.errors import FieldError, ValidationError
from billing.records import FieldChecker
from billing.runs import audit

ISSUER_FIELDS = ("name", "legal_form", "siren", "siret", "vat_number", "address_line1", "address_line2", "postcode",
                 "city", "country", "email", "phone", "website", "iban", "bic", "sepa_creditor_id",
                 "payment_terms_days", "late_payment_text", "recourse_text", "complaints_text", "accountant")

VAT_NORMAL_PCT = Decimal(20)

VAT_REDUCED_PCT = Decimal("5.5")

RENEWABLE_THRESHOLD_PCT = Decimal(50)  # CGI art. 278-0 bis B: reduced VAT on R1 from 50 % renewable or recovered

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

def vat_rates_for(renewable_share_pct: Decimal, threshold_pct: Decimal = RENEWABLE_THRESHOLD_PCT,
                  reduced_pct: Decimal = VAT_REDUCED_PCT, normal_pct: Decimal = VAT_NORMAL_PCT
                  ) -> tuple[Decimal, Decimal]:
    """(R1 rate, R2 rate) [%] for a network's renewable-and-recovered share (CGI art. 278-0 bis B): R2 always
    at the reduced rate, R1 at the reduced rate from the threshold on, else at the normal rate."""
    return (reduced_pct if renewable_share_pct >= threshold_pct else normal_pct), reduced_pct

def save_vat_period(conn: psycopg.Connection, network: str, valid_from: date, valid_to: date | None,
                    renewable_share_pct: Decimal, justification: str, *, actor: str) -> tuple[Decimal, Decimal]:
    """Record a network's renewable-and-recovered share for a period and the VAT rates that follow.

    Raises:
        ValidationError: unknown network, share outside 0-100 %, no justification.
    """
    errors = []
    if conn.execute("SELECT 1 FROM networks WHERE code = %s", (network,)).fetchone() is None:
        errors.append(FieldError("network", f"réseau {network} inconnu"))
    if not 0 <= renewable_share_pct <= 100:
        errors.append(FieldError("renewable_share_pct", "doit être entre 0 et 100 %"))
    if not justification.strip():
        errors.append(FieldError("justification", "obligatoire (bilan énergétique, arrêté, attestation...)"))
    if errors:
        raise ValidationError(errors)
    r1, r2 = vat_rates_for(renewable_share_pct)
    with conn.transaction():
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
    """A reduction voted for a whole tariff category."""
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
