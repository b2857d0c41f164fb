"""French words for field operations, shared by pages, letters and e-mails."""

from __future__ import annotations

KINDS = {"repair": "dépannage", "preventive": "maintenance préventive", "works": "travaux"}
PRIORITIES = {"urgent": "urgente", "high": "haute", "normal": "normale", "low": "basse"}
STATUSES = {"to_plan": "à planifier", "planned": "planifiée", "in_progress": "en cours", "done": "terminée",
            "cancelled": "annulée"}
ORIGINS = {"alarm": "alarme", "request": "demande d'abonné", "manual": "saisie",
           "maintenance_plan": "plan de maintenance"}
REQUEST_KINDS = {"no_heating": "pas de chauffage", "no_hot_water": "pas d'eau chaude", "noise": "bruit",
                 "other": "autre"}
REQUEST_STATUSES = {"open": "reçue", "in_progress": "prise en charge", "answered": "répondue"}
PROOF = {"pending": "à vérifier", "verified": "amélioration vérifiée", "no_effect": "sans effet mesurable",
         "insufficient": "données insuffisantes"}
INDICATORS = {"delta_t": ("ΔT primaire", "K"), "t_return": ("température de retour", "°C"),
              "signature_residual": ("écart à la signature", "%")}
OUTAGE_KINDS = {"planned": "coupure programmée", "unplanned": "coupure non programmée"}
