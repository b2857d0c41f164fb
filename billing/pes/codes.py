"""PES V2 code lists the régie uses: the debtor's category (CatTiers) and legal nature (NatJur).

Values and labels from the DGFiP's schema (``CommunPES.xsd``, types TCatTiers and TNatJur, v5.12).
Natural persons (CatTiers 01) are left out: their titres need a civility the subscriber records do not
hold, and a heat network's subscribers are organisations.
"""

from __future__ import annotations

CATEGORIES = {
    "20": "État et établissements publics nationaux",
    "21": "Régions",
    "22": "Départements",
    "23": "Communes",
    "24": "Groupements de collectivités",
    "25": "Caisses des écoles",
    "26": "CCAS",
    "27": "Établissements publics de santé",
    "29": "Autres établissements publics",
    "50": "Autres organismes sociaux",
    "60": "Personnes morales de droit privé",
}
LEGAL_NATURES = {
    "02": "Artisan, commerçant, agriculteur",
    "03": "Société",
    "06": "Association",
    "07": "État ou organisme d'État",
    "08": "Établissement public national",
    "09": "Collectivité territoriale, EPL, EPS",
}
PUBLIC_CATEGORIES = frozenset({"20", "21", "22", "23", "24", "25", "26", "27", "29"})
#: the natures each category allows (the DGFiP's grid, for the categories above)
ALLOWED = {**{c: frozenset({"09"}) for c in ("21", "22", "23", "24", "25", "26", "27", "29")},
           "20": frozenset({"07", "08"}), "50": frozenset({"06", "03"}), "60": frozenset({"02", "03", "06"})}


def default_codes(public_entity: bool) -> tuple[str, str]:
    """(CatTiers, NatJur) when none is recorded: another public establishment, or a company."""
    return ("29", "09") if public_entity else ("60", "03")


def check_pair(category: str, nature: str) -> str | None:
    """What is wrong with this pair, in French, or None."""
    if category not in CATEGORIES:
        return f"catégorie de tiers « {category} » inconnue ({', '.join(CATEGORIES)})"
    if nature not in LEGAL_NATURES:
        return f"nature juridique « {nature} » inconnue ({', '.join(LEGAL_NATURES)})"
    if nature not in ALLOWED[category]:
        return (f"la nature juridique {nature} ({LEGAL_NATURES[nature]}) ne va pas avec la catégorie "
                f"{category} ({CATEGORIES[category]}) : {', '.join(sorted(ALLOWED[category]))}")
    return None
