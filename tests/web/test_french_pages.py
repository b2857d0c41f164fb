"""Every page reachable by each role, crawled over HTTP from its home page through the links it shows:
no internal identifier (snake_case), no English label, no number written with a decimal point next to
its unit, no exclusive period end on screen — in the visible text and in the labels screen readers read
(aria-label, title, alt, placeholder)."""

from __future__ import annotations

import re
from collections import deque
from contextlib import closing
from decimal import Decimal
from html import unescape
from urllib.parse import urljoin, urlsplit

from regie_chaleur.db.database import Database
from tests.support.auth import signed_in

HOMES = {"operatrice": "/exploitation", "facturation": "/facturation", "abonne-un": "/espace",
         "administratrice": "/admin/comptes"}
SKIP = re.compile(r"\.(pdf|csv|xml|zip|json|svg|png|js|css)(\?|$)|/deconnexion|/api/|/static/|/export")
SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
ENGLISH = re.compile(r"\b(Not Found|Input should|Field required|Internal Server Error|Loading|Submit|Cancel|"
                     r"Search|Error|alarm|detail|None|null|undefined|True|False)\b")
POINT_DECIMAL = re.compile(r"\b\d+\.\d+\s?(°C|K|kW|kWh|MWh|m³|m³/h|%|€)(?!\w)")
EXCLUSIVE = re.compile(r"\(exclu\)|\bAu \d{2}/\d{2}/\d{4}")
LABELS = re.compile(r'(?:aria-label|title|alt|placeholder)="([^"]*)"')
MAX_PAGES = 120


def _visible(html: str) -> str:
    body = re.sub(r"<(script|style|code|pre)\b.*?</\1>", " ", html, flags=re.S | re.I)
    text = unescape(re.sub(r"<[^>]+>", " ", body))
    labels = " ".join(unescape(v) for v in LABELS.findall(html))
    return " ".join(f"{text} {labels}".split())


def _crawl(base: str, login: str) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    with closing(signed_in(base, login)) as client:
        seen, queue = set(), deque([HOMES[login]])
        while queue and len(seen) < MAX_PAGES:
            path = queue.popleft()
            if path in seen:
                continue
            seen.add(path)
            answer = client.get(path)
            if "text/html" not in answer.headers.get("content-type", ""):
                continue
            text = _visible(answer.text)
            found = [f"identifiant interne « {m} »" for m in SNAKE.findall(text)]
            found += [f"anglais « {m} »" for m in ENGLISH.findall(text)]
            found += [f"point décimal « {m.group(0)} »" for m in POINT_DECIMAL.finditer(text)]
            found += [f"fin exclusive « {m} »" for m in EXCLUSIVE.findall(text)]
            if found:
                problems[path] = sorted(set(found))
            for href in re.findall(r'href="([^"#]+)"', answer.text):
                target = urljoin(base + path, unescape(href))
                parts = urlsplit(target)
                if target.startswith(base) and not SKIP.search(parts.path) and parts.path.startswith(
                        ("/exploitation", "/facturation", "/espace", "/admin", "/compte")):
                    queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return problems


def test_every_page_speaks_french(site: tuple[Database, str]) -> None:
    _, base = site
    problems = {f"{login} {path}": found for login in HOMES for path, found in _crawl(base, login).items()}
    assert problems == {}


def test_tariffs_from_a_french_spreadsheet(site: tuple[Database, str]) -> None:
    """The template downloads with French columns, ``;`` and decimal commas; imported back it changes
    nothing; a new version written the French way is imported; a wrong line is named in French."""
    db, base = site
    with closing(signed_in(base, "facturation")) as client:
        template = client.get("/facturation/tarifs/modele.csv")
        assert template.status_code == 200 and template.headers["content-type"].startswith("text/csv")
        text = template.content.decode("utf-8-sig")
        header, *lines = text.splitlines()
        assert header.startswith("Catégorie;Applicable du;Jusqu'au;R1 (€ HT/MWh);R21 (€ HT/kW/an)")
        assert lines and all(";" in line and "_" not in line.split(";")[0] for line in lines)
        same = client.post("/facturation/tarifs/import", data={"nature": "tariffs"},
                           files={"fichier": ("modele-tarifs.csv", template.content, "text/csv")})
        assert same.status_code == 303
        label = lines[0].split(";")[0]
        new = (f"catégorie ; du ; R1 ; R21 ; R22 ; R23 ; R24 ; délibération\n"
               f"{label.upper()};01/01/2027;64,10;3,50;20,90;8,80;26,00;CA-2026-77\n").encode()
        done = client.post("/facturation/tarifs/import", data={"nature": "tariffs"},
                           files={"fichier": ("tarifs-2027.csv", new, "text/csv")})
        assert done.status_code == 303
        with db.pool.connection() as conn:
            assert conn.execute("SELECT r1_eur_mwh FROM tariffs WHERE valid_from = '2027-01-01'").fetchone()[0] == (
                Decimal("64.10"))
        wrong = client.post("/facturation/tarifs/import", data={"nature": "tariffs"}, files={"fichier": (
            "faux.csv", "Catégorie;Du;R1;R21;R22;R23;R24;Délibération\nchâteau;15/01/2027;x;1;1;1;1;D\n".encode(),
            "text/csv")})
        page = _visible(wrong.text)
        assert wrong.status_code == 422 and "catégorie château inconnue" in page
        assert "premier jour d'un mois" in page
        empty = client.post("/facturation/tarifs/import", data={"nature": "tariffs"},
                            files={"fichier": ("vide.csv", b"", "text/csv")})
        assert empty.status_code == 422 and "colonnes manquantes" in _visible(empty.text)
