"""Server-rendered pages: one Jinja2 environment, French formats as filters, the navigation of each role.

Every page gets the principal, its CSRF token (forms post it; htmx sends it as a header) and the
navigation of its role. Pages carry no inline script (the Content-Security-Policy forbids it): charts
and behaviours are declared with ``data-*`` attributes that ``static/app.js`` reads.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from billing import fr
from billing.errors import exception_label
from regie_chaleur.operations import labels
from regie_chaleur.web.authz import Principal, identify

HERE = Path(__file__).parent
PARIS = ZoneInfo("Europe/Paris")
NAVIGATION = {
    "operator": [("/exploitation", "Vue d'ensemble"), ("/exploitation/sous-stations", "Sous-stations"),
                 ("/exploitation/equipements", "Équipements"),
                 ("/exploitation/alarmes", "Alarmes"), ("/exploitation/interventions", "Interventions"),
                 ("/exploitation/coupures", "Coupures"), ("/exploitation/astreinte", "Astreinte"),
                 ("/exploitation/prevision", "Prévision et plan")],
    "billing": [("/facturation", "Tournées"), ("/facturation/factures", "Factures"),
                ("/facturation/abonnes", "Abonnés"), ("/facturation/contrats", "Contrats"),
                ("/facturation/points-de-livraison", "Points de livraison"),
                ("/facturation/tarifs", "Tarifs et indices"), ("/facturation/titres", "Titres de recettes"),
                ("/facturation/encaissements", "Encaissements"), ("/facturation/relances", "Relances"),
                ("/facturation/mensualisation", "Mensualisation")],
    "subscriber": [("/espace", "Ma consommation"), ("/espace/sites", "Mes sites"),
                   ("/espace/factures", "Mes factures"), ("/espace/contrat", "Mon contrat"),
                   ("/espace/demandes", "Mes demandes"), ("/espace/interventions", "Travaux")],
    "admin": [("/admin/comptes", "Comptes")],
}
MESSAGES = {
    "alarm-acknowledged": "Alarme acquittée.", "alarm-cleared": "Alarme close par l'opérateur.",
    "saved": "Enregistré.", "imported": "Import réussi.", "credited": "Avoir émis.",
    "occupant": "Changement d'occupant enregistré : l'ancien contrat est clos, celui-ci commence le lendemain.",
    "issued": "Facture émise.", "discarded": "Tournée abandonnée : ses brouillons sont supprimés.",
    "unavailability-saved": "Indisponibilité enregistrée ; le plan de production a été recalculé.",
    "unavailability-cancelled": "Indisponibilité annulée ; le plan de production a été recalculé.",
    "logged-out": "Vous êtes déconnecté.", "token-created": "Jeton créé.", "user-created": "Compte créé.",
    "token-revoked": "Jeton révoqué : il est refusé dès maintenant.",
    "password-reset": "Mot de passe réinitialisé ; les sessions du compte sont fermées.",
    "password-changed": "Mot de passe changé ; reconnectez-vous.",
    "payment-assigned": "Paiement affecté.",
    "reminders-recorded": "Relances enregistrées comme envoyées.",
    "plan-created": "Mensualisation enregistrée.", "plan-cancelled": "Mensualisation annulée.",
    "plan-regularised": "Mensualisation régularisée : le décompte est prêt pour l'abonné.",
    "titres-emitted": "Titres émis : le fichier PES V2, conforme au schéma de la DGFiP, est prêt à transmettre.",
}


def _when(value: datetime | None) -> str:
    return value.astimezone(PARIS).strftime("%d/%m/%Y %H:%M") if value else "—"


def _num(value: Any, places: int | None = None) -> str:
    if value is None:
        return "—"
    return fr.number(Decimal(repr(value)) if isinstance(value, float) else value, places)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.ChainableUndefined)
    env.filters.update({
        "eur": lambda v: "—" if v is None else fr.eur(Decimal(v)),
        "num": _num,
        "pct": lambda v: "—" if v is None else fr.percent(Decimal(repr(v)) if isinstance(v, float) else v),
        "day": lambda v: "—" if v is None else fr.day(v),
        "lastday": lambda v: "—" if v is None else fr.day(v - timedelta(days=1)),  # of an exclusive end
        "when": _when,
        "month": lambda v: fr.month(v) if isinstance(v, date) else "—",
        "ago": lambda v: "—" if v is None else labels.duration(float(v)),
        "isoday": lambda v: fr.day(date.fromisoformat(v)) if v else "—",
        "exception": exception_label,
    })
    return env


ENV = _environment()


def navigation(principal: Principal | None) -> list[tuple[str, str]]:
    if principal is None:
        return []
    role = principal.user.role
    items = list(NAVIGATION.get(role, []))
    if role == "admin":
        items = NAVIGATION["operator"] + NAVIGATION["billing"] + items
    return items


def _outage_banner(request: Request, principal: Principal | None) -> list[str]:
    """For a subscriber: the outages announced on their sites and not over, one French line each."""
    if principal is None or principal.user.role != "subscriber" or principal.user.subscriber_id is None:
        return []
    from regie_chaleur.field.notices import period_text
    from regie_chaleur.field.outages import subscriber_notices

    with request.app.state.db.pool.connection() as conn:
        found = subscriber_notices(conn, principal.user.subscriber_id, datetime.now(PARIS))
    kinds = {"planned": "Coupure de chauffage programmée", "unplanned": "Coupure de chauffage en cours"}
    return [f"{kinds[o['kind']]} ({o['title']}) {period_text(o)}." for o in found]


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with the principal, its CSRF token, its navigation and an optional message."""
    principal = identify(request)
    message = MESSAGES.get(request.query_params.get("ok", ""))
    html = ENV.get_template(template).render(
        request=request, principal=principal, nav=navigation(principal), path=request.url.path,
        csrf=principal.session.csrf_token if principal and principal.session else "", message=message,
        outage_banner=_outage_banner(request, principal), **context)
    return HTMLResponse(html, status_code=status_code)
