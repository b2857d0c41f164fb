"""A billing test bench: a network with delivery points and meters, the régie, tariffs, VAT, helpers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import psycopg
from schwifty import IBAN

from billing.identifiers import siren_with_key, siret_with_key
from billing.imports import import_tariffs
from billing.periods import boundary
from billing.records import save_contract, save_subscriber, write_remote_readings
from billing.regie import save_issuer, save_vat_period
from regie_chaleur.registry.store import import_inventory_text
from telemetry.profiles import load_profiles

ACTOR = "agent.facturation@regie-ivry.test"
R2_OCTOBER_FULL = (Decimal("66.60"), Decimal("245.78"), Decimal("113.09"), Decimal("162.71"))  # 137.5 kW, 1/12


def siren(n: int) -> str:
    """A valid SIREN built from ``n`` (Luhn key)."""
    return siren_with_key(f"{n:08d}")


siret = siret_with_key


def iban(account: int) -> str:
    return str(IBAN.generate("FR", bank_code="30004", account_code=f"{account:011d}").compact)


REGIE_SIREN = siren(84_199_321)
ISSUER: dict[str, Any] = {
    "name": "Régie ivryenne de chaleur", "legal_form": "Régie dotée de la personnalité morale et de l'autonomie "
    "financière (SPIC)", "siren": REGIE_SIREN, "siret": siret(REGIE_SIREN), "vat_number": "",
    "address_line1": "Hôtel de ville, esplanade Georges-Marrane", "postcode": "94200", "city": "Ivry-sur-Seine",
    "email": "facturation@regie-chaleur-ivry.fr", "phone": "01 49 60 25 25", "website": "https://chaleur.ivry.fr",
    "iban": str(IBAN.generate("FR", bank_code="30001", account_code="00000123456").compact), "bic": "BDFEFRPPCCT",
    "sepa_creditor_id": "FR72ZZZ123456", "payment_terms_days": "30",
    "late_payment_text": "Pénalités de retard au taux d'intérêt légal ; indemnité forfaitaire de 40 € pour frais de "
                         "recouvrement (professionnels).",
    "recourse_text": "Cette facture vaut titre exécutoire (art. L.1617-5 du CGCT). Vous pouvez contester la somme "
                     "devant la juridiction compétente dans un délai de deux mois suivant sa réception.",
    "complaints_text": "Réclamations : facturation@regie-chaleur-ivry.fr ; médiateur national de l'énergie.",
    "accountant": "Service de gestion comptable d'Ivry-sur-Seine (DGFiP)",
}
TARIFFS_CSV = ("category,valid_from,valid_to,r1_eur_mwh,r21_eur_kw_year,r22_eur_kw_year,r23_eur_kw_year,"
               "r24_eur_kw_year,deliberation,deliberation_date\n") + """\
copropriete,2025-01-01,,62.35,5.812,21.45,9.87,14.2,CA-2024-41,2024-12-17
logement_social,2025-01-01,,62.35,5.812,21.45,9.87,14.2,CA-2024-41,2024-12-17
equipement_public,2025-01-01,,62.35,5.812,21.45,9.87,14.2,CA-2024-41,2024-12-17
tertiaire,2025-01-01,,64.10,5.812,21.45,9.87,14.2,CA-2024-41,2024-12-17
"""


def network_yaml(count: int) -> str:
    """A network ``centre`` with ``count`` substations, each with a metered delivery point."""
    subs, devices, meters, points = [], [], [], []
    for i in range(1, count + 1):
        subs.append(f"  - {{code: SST-{i:04d}, name: Sous-station {i}, network: centre}}")
        devices.append(f"  - {{code: DEV-{i:04d}, substation: SST-{i:04d}, host: 10.0.{i // 250}.{i % 250 + 1}, "
                       f"profile: kamstrup-multical-603}}")
        meters.append(f"  - {{code: MTR-{i:04d}, device: DEV-{i:04d}, substation: SST-{i:04d}, "
                      "register_capacity_kwh: 1000000}")
        points.append(f"  - {{code: PDL-{i:04d}, name: Point de livraison {i}, substation: SST-{i:04d}, "
                      f"meter: MTR-{i:04d}, address: {i} rue de la Paix 94200 Ivry-sur-Seine}}")
    spare = ("  - {code: MTR-SPARE, substation: SST-0001, register_capacity_kwh: 1000000}")
    return "\n".join(["networks:", "  - {code: centre, name: Réseau centre-ville}", "substations:", *subs,
                      "devices:", *devices, "meters:", *meters, spare, "delivery_points:", *points]) + "\n"


def setup_billing(conn: psycopg.Connection, points: int = 4, share_pct: str = "75") -> None:
    """Network, régie, tariffs from CSV, and the network's VAT period (renewable share ``share_pct``)."""
    meter_profile = {"kamstrup-multical-603": load_profiles()["kamstrup-multical-603"]}
    import_inventory_text(conn, network_yaml(points), "network.yaml", profiles=meter_profile)
    save_issuer(conn, ISSUER, actor=ACTOR)
    import_tariffs(conn, TARIFFS_CSV, "tarifs.csv", actor=ACTOR)
    save_vat_period(conn, "centre", date(2025, 1, 1), None, Decimal(share_pct),
                    "Bilan 2024 : UVE Ivry-Paris XIII 68 %, géothermie 7 %", actor=ACTOR)


def subscriber(conn: psycopg.Connection, code: str, n: int = 1, **extra: Any) -> int:
    s = siren(30_000_000 + n)
    return save_subscriber(conn, {"code": code, "name": f"Syndicat des copropriétaires {code}", "siren": s,
                                  "siret": siret(s), "address_line1": f"{n} avenue Danielle-Casanova",
                                  "postcode": "94200", "city": "Ivry-sur-Seine",
                                  "email": f"{code.lower()}@example.fr", **extra}, actor=ACTOR)


def contract(conn: psycopg.Connection, number: str, subscriber_code: str, point: str, start: date,
             power: str = "137.5", category: str = "copropriete", **extra: Any) -> int:
    return save_contract(conn, {"number": number, "subscriber": subscriber_code, "delivery_point": point,
                                "category": category, "start_date": start.isoformat(), "power_kw": power, **extra},
                         actor=ACTOR)


def remote(conn: psycopg.Connection, meter: str, day: date, index_kwh: str) -> None:
    """A remote reading of ``meter`` at local midnight starting ``day``."""
    meter_id = conn.execute("SELECT id FROM meters WHERE code = %s", (meter,)).fetchone()
    assert meter_id is not None
    at = boundary(day)
    write_remote_readings(conn, [(meter_id[0], at, Decimal(index_kwh), at)])


def invoice_of(conn: psycopg.Connection, contract_number: str, period_start: date,
               kind: str = "invoice") -> dict[str, Any]:
    """An invoice (the latest of that contract and period) with its lines and VAT totals."""
    cur = conn.execute(
        """SELECT i.* FROM invoices i JOIN contracts c ON c.id = i.contract_id
           WHERE c.number = %s AND i.period_start = %s AND i.kind = %s ORDER BY i.id DESC LIMIT 1""",
        (contract_number, period_start, kind))
    row = cur.fetchone()
    assert row is not None, f"no {kind} for {contract_number} from {period_start}"
    out = dict(zip([c.name for c in cur.description or []], row, strict=True))
    out["lines"] = [dict(kind=r[0], quantity=r[1], unit_price=r[2], amount=r[3], vat_rate=r[4], label=r[5])
                    for r in conn.execute("SELECT kind, quantity, unit_price, amount_ht, vat_rate, label "
                                          "FROM invoice_lines WHERE invoice_id = %s ORDER BY line_no", (out["id"],))]
    out["vat"] = {r[0]: (r[1], r[2]) for r in conn.execute(
        "SELECT rate, base, vat FROM invoice_vat WHERE invoice_id = %s", (out["id"],))}
    return out


def amounts(invoice: dict[str, Any], kind: str) -> list[Decimal]:
    return [line["amount"] for line in invoice["lines"] if line["kind"] == kind]
