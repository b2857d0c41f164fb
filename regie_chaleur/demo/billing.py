"""The demonstration's billing set-up: the régie (invented but well-formed identifiers), the 2025 tariff
of each category (open-ended: each January's vote follows it, :mod:`regie_chaleur.demo.year`),
indexation formulas, index values up to a month, each network's VAT period and the social-housing
reduction. Running it again changes nothing.

The index values are generated (a slow drift and a seasonal swing, deterministic), published as their
real counterparts are: energy indices on the 12th of the next month, labour and works indices on the
15th of the month after; the formulas' lags (1 and 2 months) fit those dates.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path

import psycopg
import yaml

from billing.imports import import_formulas, import_indices, import_tariffs
from billing.periods import add_months
from billing.regie import save_disclosure, save_issuer, save_reduction, save_vat_period
from billing.titres import save_settings

CONFIG = Path(str(resources.files("regie_chaleur") / "config"))
FIRST_MONTH = date(2024, 9, 1)
#: series: (name, yearly drift, seasonal amplitude, months until published, publication day)
SERIES = {
    "GAZ": ("Prix du gaz naturel, base 100 (série de démonstration)", -0.04, 0.06, 1, 12),
    "ELEC": ("Prix de l'électricité, base 100 (série de démonstration)", 0.02, 0.03, 1, 12),
    "ICHT-IME": ("Coût horaire du travail, industries mécaniques et électriques (démonstration)", 0.025, 0.0, 2, 15),
    "BT40": ("Index BT40 chauffage central (démonstration)", 0.02, 0.0, 2, 15),
}
#: renewable-and-recovered share per network [%] and its justification (demonstration assumptions)
#: what the invoices print per network (demonstration figures: replace them with the DPE order's annex 7
#: values and the network's annual report)
DISCLOSURES = {
    "centre": ("61", {"Chaleur de récupération (UVE Ivry-Paris XIII)": "71", "Géothermie (interconnexion)": "7",
                      "Gaz naturel": "22"}, "78"),
    "confluences": ("44", {"Géothermie du Dogger": "84", "Gaz naturel": "16"}, "84"),
}
VAT_SHARES = {
    "centre": ("78", "Bilan 2024 (démonstration) : chaleur de récupération de l'UVE Ivry-Paris XIII 71 %, "
                     "géothermie par l'interconnexion 7 %, gaz 22 %"),
    "confluences": ("84", "Bilan 2024 (démonstration) : géothermie du Dogger 84 %, appoint gaz 16 %"),
}


def demo_index_csv(until: date) -> str:
    """Index values from September 2024 to the last month published by ``until``, as an import CSV."""
    lines = ["series,month,value,published_on,name,source"]
    for code, (name, drift, swing, delay, day) in SERIES.items():
        month = FIRST_MONTH
        while True:
            published = add_months(month, delay).replace(day=day)
            if published > until:
                break
            years = (month.year - 2024) + (month.month - 1) / 12
            value = 100 * (1 + drift * years) * (1 + swing * math.cos(2 * math.pi * (month.month - 1) / 12))
            lines.append(f"{code},{month:%Y-%m},{value:.2f},{published.isoformat()},{name},démonstration")
            month = add_months(month, 1)
    return "\n".join(lines) + "\n"


#: the régie's identifiers in Hélios (invented: a real régie takes them from its public accountant)
DEMO_HELIOS = {"collection": "accountant", "id_post": "094021", "cod_col": "041", "cod_bud": "02",
               "product_code": "CHAL", "nature": "70613"}


def load_demo_billing(conn: psycopg.Connection, until: date, *, actor: str = "démonstration") -> None:
    """Set up billing for the demonstration network (networks must exist), index values up to ``until``."""
    issuer = yaml.safe_load((CONFIG / "demo-issuer.yaml").read_text(encoding="utf-8"))
    save_issuer(conn, {k: str(v) for k, v in issuer.items()}, actor=actor)
    save_settings(conn, DEMO_HELIOS, actor=actor)
    if conn.execute("SELECT count(*) FROM tariffs").fetchone() == (0,):  # later versions: the year's votes
        import_tariffs(conn, (CONFIG / "demo-tarifs.csv").read_text(encoding="utf-8"), "demo-tarifs.csv",
                       actor=actor)
    import_indices(conn, demo_index_csv(until), "indices de démonstration", actor=actor)
    if conn.execute("SELECT count(*) FROM indexation_formulas").fetchone() == (0,):
        import_formulas(conn, (CONFIG / "demo-formules.csv").read_text(encoding="utf-8"), "demo-formules.csv",
                        actor=actor)
    networks = {r[0] for r in conn.execute("SELECT code FROM networks")}
    with_vat = {r[0] for r in conn.execute("SELECT network FROM vat_periods")}
    for network, (share, why) in VAT_SHARES.items():
        if network in networks and network not in with_vat:
            save_vat_period(conn, network, date(2025, 1, 1), None, Decimal(share), why, actor=actor)
    for network, (co2, mix, share) in DISCLOSURES.items():
        for year in range(2024, until.year + 1):
            if network in networks:
                save_disclosure(conn, network, year, Decimal(co2), {k: Decimal(v) for k, v in mix.items()},
                                Decimal(share), "démonstration (à remplacer par l'annexe 7 de l'arrêté DPE)",
                                actor=actor)
    if conn.execute("SELECT count(*) FROM category_reductions").fetchone() == (0,):
        save_reduction(conn, "logement_social", date(2026, 1, 1), None, Decimal("8"), "R2", "CA-2025-41",
                       "Réduction sociale logement social", actor=actor)
