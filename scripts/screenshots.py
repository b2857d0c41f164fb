"""Screenshots of the main pages of a running demo, one per page and role, into docs/screenshots/."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

from regie_chaleur.demo.setup import PASSWORD  # the demonstration accounts

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
OUT = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
PAGES = {
    "exploitation": [("overview", "/exploitation"),
                     ("substations", "/exploitation/sous-stations?tri=puissance&ordre=desc"),
                     ("substation", "/exploitation/sous-stations/SST-C001"), ("alarms", "/exploitation/alarmes"),
                     ("forecast-plan", "/exploitation/prevision"), ("devices", "/exploitation/equipements"),
                     ("interventions", "/exploitation/interventions"), ("outages", "/exploitation/coupures"),
                     ("on-call", "/exploitation/astreinte")],
    "facturation": [("billing", "/facturation"), ("invoices", "/facturation/factures"),
                    ("contract", "/facturation/contrats/POL-C001")],
    "abonne": [("portal", "/espace"), ("portal-sites", "/espace/sites"), ("portal-invoices", "/espace/factures"),
               ("portal-contract", "/espace/contrat"), ("portal-works", "/espace/interventions"),
               ("portal-requests", "/espace/demandes")],
}
# the same people on a phone (360 px wide)
PHONE = {
    "abonne": [("mobile-portal", "/espace"), ("mobile-sites", "/espace/sites"), ("mobile-invoices", "/espace/factures"),
               ("mobile-contract", "/espace/contrat")],
    "exploitation": [("mobile-alarms", "/exploitation/alarmes")],
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ.get("REGIE_CHROMIUM", "/usr/bin/chromium"),
                                    args=["--no-sandbox", "--disable-gpu"], headless=True)
        shots = [(login, pages, {"width": 1360, "height": 900}) for login, pages in PAGES.items()]
        shots += [(login, pages, {"width": 360, "height": 740}) for login, pages in PHONE.items()]
        for login, pages, viewport in shots:
            context = browser.new_context(base_url=BASE, viewport=viewport, locale="fr-FR",  # type: ignore[arg-type]
                                          timezone_id="Europe/Paris", device_scale_factor=1)
            page = context.new_page()
            page.goto("/connexion")
            page.get_by_label("Identifiant").fill(login)
            page.get_by_label("Mot de passe").fill(PASSWORD)
            page.get_by_role("button", name="Se connecter").click()
            page.wait_for_load_state("networkidle")
            for name, path in pages:
                page.goto(path)
                page.wait_for_load_state("networkidle")
                page.wait_for_timeout(500)
                page.screenshot(path=str(OUT / f"{name}.png"), full_page=False)
                print(OUT / f"{name}.png")
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
