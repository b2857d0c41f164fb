"""Everything a document shows, read once per invoice (issued invoices and credit notes only).

The invoice itself comes from billing's tables, frozen at issue (seller, buyer, payment, readings,
lines, VAT). What the EU billing information adds (Directive 2012/27/EU art. 10a and annex VIIa) is
handed in by the application as :class:`Extras`: the delivery point's monthly consumption over
13 months against the same months a year earlier, weather-normalised, and the network's published
energy mix and CO2 content.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg

from billing.errors import NotFoundError, StateError


@dataclass(frozen=True)
class MonthPoint:
    month: date  # first day of the month
    kwh: Decimal | None  # [kWh] delivered that month
    kwh_year_before: Decimal | None  # [kWh] the same month a year earlier
    kwh_normalised: Decimal | None  # [kWh] that month as if its weather had been normal


@dataclass(frozen=True)
class Disclosure:
    """A network's figures for a year, as published (DPE order annex, the network's own report)."""

    network: str
    year: int
    co2_g_per_kwh: Decimal  # [g CO2/kWh] delivered
    mix: dict[str, Decimal]  # share of delivered heat per source [%]
    renewable_share_pct: Decimal
    source: str


@dataclass(frozen=True)
class Extras:
    history: tuple[MonthPoint, ...] = ()
    disclosure: Disclosure | None = None


@dataclass
class DocumentContent:
    invoice: dict[str, Any]
    lines: list[dict[str, Any]]
    vat: list[dict[str, Any]]
    corrects: dict[str, Any] | None  # the invoice a credit note corrects: number, issue date
    network: str
    extras: Extras = field(default_factory=Extras)

    @property
    def is_credit_note(self) -> bool:
        return bool(self.invoice["kind"] == "credit_note")


def read_content(conn: psycopg.Connection, invoice_id: int) -> DocumentContent:
    """The content of an issued invoice or credit note (without extras).

    Raises:
        NotFoundError: no such invoice.
        StateError: a draft (documents exist for issued invoices only).
    """
    cur = conn.execute(
        """SELECT i.id, i.number, i.kind, i.status, i.issue_date, i.due_date, i.period_start, i.period_end,
                  i.total_ht, i.total_vat, i.total_ttc, i.reason, i.seller, i.buyer, i.payment, i.readings,
                  i.warnings, i.issued_at, i.subscriber_id, c.number AS contract, s.network,
                  dp.id AS delivery_point_id,
                  o.number AS corrects_number, o.issue_date AS corrects_issue_date
           FROM invoices i JOIN contracts c ON c.id = i.contract_id
           JOIN delivery_points dp ON dp.id = c.delivery_point_id JOIN substations s ON s.id = dp.substation_id
           LEFT JOIN invoices o ON o.id = i.corrects_invoice_id WHERE i.id = %s""", (invoice_id,))
    row = cur.fetchone()
    if row is None:
        raise NotFoundError(f"facture {invoice_id} inconnue")
    invoice = dict(zip([c.name for c in cur.description or []], row, strict=True))
    if invoice["status"] != "issued":
        raise StateError(f"la facture {invoice_id} est un brouillon : pas de document avant l'émission")
    lines = conn.execute(
        "SELECT line_no, kind, label, quantity, unit, unit_price, prorata, prorata_label, amount_ht, vat_rate, "
        "period_start, period_end, details FROM invoice_lines WHERE invoice_id = %s ORDER BY line_no", (invoice_id,))
    line_names = [c.name for c in lines.description or []]
    vat = conn.execute("SELECT rate, base, vat FROM invoice_vat WHERE invoice_id = %s ORDER BY rate", (invoice_id,))
    corrects = ({"number": invoice["corrects_number"], "issue_date": invoice["corrects_issue_date"]}
                if invoice["corrects_number"] else None)
    return DocumentContent(invoice, [dict(zip(line_names, r, strict=True)) for r in lines.fetchall()],
                           [{"rate": r[0], "base": r[1], "vat": r[2]} for r in vat.fetchall()], corrects,
                           invoice["network"])


def read_disclosure(conn: psycopg.Connection, network: str, year: int) -> Disclosure | None:
    """The network's latest published figures up to ``year``."""
    row = conn.execute("SELECT network, year, co2_g_per_kwh, mix, renewable_share_pct, source FROM network_disclosures "
                       "WHERE network = %s AND year <= %s ORDER BY year DESC LIMIT 1", (network, year)).fetchone()
    if row is None:
        return None
    return Disclosure(row[0], row[1], row[2], {k: Decimal(str(v)) for k, v in row[3].items()}, row[4], row[5])


#: Code de commerce L.441-10 (II) and D.441-5: printed on every invoice, whatever the régie's own text adds
LATE_PAYMENT_LAW = ("Pénalités de retard : trois fois le taux d'intérêt légal, exigibles dès le jour suivant la date "
                    "d'échéance (art. L.441-10 du code de commerce). Débiteur professionnel : indemnité forfaitaire "
                    "pour frais de recouvrement de 40 € (art. D.441-5). Pas d'escompte pour paiement anticipé.")
