"""CSV imports of tariffs, index values and indexation formulas: all or nothing, every bad line named.

Files are UTF-8, comma-separated, with a header; decimals with a point or a comma (quoted). Re-importing
the same file changes nothing. A value already in the database is never silently replaced: a tariff or
formula with the same key and other values, or an index value already published with another value,
is an error naming its line (publish a new version instead).

- tariffs: ``category,valid_from,valid_to,r1_eur_mwh,r21_eur_kw_year,r22_eur_kw_year,r23_eur_kw_year,
  r24_eur_kw_year,deliberation,deliberation_date``
- indices: ``series,month,value,published_on`` and optionally ``name,source`` (creates the series)
- formulas: ``term,category,valid_from,valid_to,fixed_part,lag_months,deliberation,series,weight,
  base_value``, one line per component; lines with the same term, category and start form one formula.
- subscribers and contracts (onboarding a network): the fields of their forms, one per column.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg

from billing.errors import FieldError, ValidationError
from billing.indexation import check_formula
from billing.model import TERMS, Component, Formula
from billing.periods import parse_month
from billing.records import FieldChecker, save_contract, save_subscriber
from billing.runs import audit
from billing.succession import tariff_succession

TARIFF_COLUMNS = ("category", "valid_from", "valid_to", "r1_eur_mwh", "r21_eur_kw_year", "r22_eur_kw_year",
                  "r23_eur_kw_year", "r24_eur_kw_year", "deliberation", "deliberation_date")
INDEX_COLUMNS = ("series", "month", "value", "published_on")
FORMULA_COLUMNS = ("term", "category", "valid_from", "valid_to", "fixed_part", "lag_months", "deliberation",
                   "series", "weight", "base_value")
PRICE_COLUMNS = TARIFF_COLUMNS[3:8]


@dataclass(frozen=True)
class ImportReport:
    created: int
    unchanged: int

    def __str__(self) -> str:
        return f"{self.created} ajouté(s), {self.unchanged} inchangé(s)"


#: French column names (as billing staff write them, accents, case and units aside) of the tariff and index
#: files, and the template's: the first name of each is the one the template uses
FRENCH_COLUMNS = {
    "category": ("Catégorie",), "valid_from": ("Applicable du", "Du", "Date d'effet"),
    "valid_to": ("Jusqu'au", "Au", "Fin"), "r1_eur_mwh": ("R1 (€ HT/MWh)", "R1"),
    "r21_eur_kw_year": ("R21 (€ HT/kW/an)", "R21"), "r22_eur_kw_year": ("R22 (€ HT/kW/an)", "R22"),
    "r23_eur_kw_year": ("R23 (€ HT/kW/an)", "R23"), "r24_eur_kw_year": ("R24 (€ HT/kW/an)", "R24"),
    "deliberation": ("Délibération",), "deliberation_date": ("Date de la délibération", "Votée le"),
    "series": ("Série", "Indice"), "month": ("Mois",), "value": ("Valeur",), "published_on": ("Publiée le",),
}


def _key(name: str) -> str:
    """A column name without accents, case, units in parentheses, or spacing."""
    plain = unicodedata.normalize("NFKD", re.sub(r"\(.*?\)", "", name)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", " ", plain.lower()).strip()


ALIASES = {_key(french): column for column, names in FRENCH_COLUMNS.items() for french in names}


def tariff_template(conn: psycopg.Connection) -> str:
    """The tariff file as a French spreadsheet writes it (``;``, decimal commas, dd/mm/yyyy, French column
    names and category labels), with each category's latest version as its example line: importing it
    back changes nothing."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([FRENCH_COLUMNS[c][0] for c in TARIFF_COLUMNS])

    def day(value: date | None) -> str:
        return value.strftime("%d/%m/%Y") if value else ""

    for row in conn.execute(
            """SELECT DISTINCT ON (t.category) c.label, t.valid_from, t.valid_to, t.r1_eur_mwh, t.r21_eur_kw_year,
                      t.r22_eur_kw_year, t.r23_eur_kw_year, t.r24_eur_kw_year, t.deliberation, t.deliberation_date
               FROM tariffs t JOIN tariff_categories c ON c.code = t.category
               ORDER BY t.category, t.valid_from DESC"""):
        writer.writerow([row[0], day(row[1]), day(row[2]), *(str(v).replace(".", ",") for v in row[3:8]), row[8],
                         day(row[9])])
    return "\ufeff" + out.getvalue()  # the BOM: Excel reads the accents as UTF-8


def _rows(text: str, source: str, required: tuple[str, ...],
          optional: tuple[str, ...] = ()) -> Iterator[tuple[int, dict[str, str]]]:
    """The file's rows by column, with the project's names or their French ones; comma- or
    semicolon-separated (French spreadsheets write ``;``). The ``optional`` columns may be left out."""
    text = text.lstrip("\ufeff")
    header = text.split("\n", 1)[0]
    reader = csv.DictReader(io.StringIO(text), delimiter=";" if header.count(";") > header.count(",") else ",")
    if reader.fieldnames:
        reader.fieldnames = [name if name in required else ALIASES.get(_key(name), name)
                             for name in reader.fieldnames]
    missing = [c for c in required if c not in (reader.fieldnames or []) and c not in optional]
    if missing:
        raise ValidationError([FieldError("en-tête", f"colonnes manquantes : {', '.join(missing)}", 1)], source)
    for row in reader:
        yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k is not None}


def _first_of_month(c: FieldChecker, field: str, required: bool = True) -> date | None:
    value = c.day(field, required)
    if value is not None and value.day != 1:
        c.fail(field, "doit être le premier jour d'un mois (les délibérations prennent effet au 1er)")
    return value


def import_tariffs(conn: psycopg.Connection, text: str, source: str, *, actor: str) -> ImportReport:
    """Import tariff versions (see the module docstring).

    Raises:
        ValidationError: every bad line; nothing written.
    """
    labels = {_key(r[1]): r[0] for r in conn.execute("SELECT code, label FROM tariff_categories")}
    categories = set(labels.values())
    existing = {(r[0], r[1]): r[2:] for r in conn.execute(
        "SELECT category, valid_from, valid_to, r1_eur_mwh, r21_eur_kw_year, r22_eur_kw_year, r23_eur_kw_year, "
        "r24_eur_kw_year, deliberation FROM tariffs")}
    errors: list[FieldError] = []
    new: list[list[Any]] = []  # [line, category, valid_from, valid_to, prices..., deliberation, voted on]
    unchanged = 0
    seen: dict[tuple[str, date], int] = {}
    for line, row in _rows(text, source, TARIFF_COLUMNS, optional=("valid_to", "deliberation_date")):
        c = FieldChecker(row, line)
        category = c.text("category")
        if category and category not in categories:  # its French label, as the template writes it
            category = labels.get(_key(category), category)
        if category and category not in categories:
            c.fail("category", f"catégorie {category} inconnue ({', '.join(sorted(categories))})")
        start = _first_of_month(c, "valid_from")
        end = _first_of_month(c, "valid_to", required=False)
        if start and end and end <= start:
            c.fail("valid_to", "doit suivre valid_from")
        prices = [c.decimal(k, minimum=Decimal(0)) for k in PRICE_COLUMNS]
        deliberation = c.text("deliberation")
        voted = c.day("deliberation_date", required=False)
        if category and start:
            key = (category, start)
            if key in seen:
                c.fail("valid_from", f"même catégorie et même date qu'à la ligne {seen[key]}")
            seen[key] = line
            values = (end, *prices, deliberation)
            if not c.errors and key in existing:
                if tuple(existing[key]) == values:
                    unchanged += 1
                else:
                    c.fail("valid_from", f"un tarif {category} au {start:%d/%m/%Y} existe déjà avec d'autres valeurs "
                                         "(publier une nouvelle version à une autre date)")
                errors += c.errors
                continue
        errors += c.errors
        if not c.errors:
            new.append([line, category, start, end, *prices, deliberation, voted])
    ended = _succeed(conn, new, errors)
    if errors:
        raise ValidationError(errors, source)
    with conn.transaction(), conn.cursor() as cur:
        for tariff_id, end in ended:
            cur.execute("UPDATE tariffs SET valid_to = %s WHERE id = %s", (end, tariff_id))
            audit(conn, actor, "closed", "tariff", tariff_id, {"valid_to": end.isoformat(), "by_file": source})
        cur.executemany("INSERT INTO tariffs (category, valid_from, valid_to, r1_eur_mwh, r21_eur_kw_year, "
                        "r22_eur_kw_year, r23_eur_kw_year, r24_eur_kw_year, deliberation, deliberation_date) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", [row[1:] for row in new])
        audit(conn, actor, "imported", "tariffs", None, {"file": source, "created": len(new)})
    return ImportReport(len(new), unchanged)


def _succeed(conn: psycopg.Connection, new: list[list[Any]], errors: list[FieldError]) -> list[tuple[int, date]]:
    """Chain the new versions of each category (an open-ended one ends where the next starts) and end the
    open-ended version already in force where the first new one starts; returns (tariff id, new end) of
    the versions ended, and adds a problem (on its line) where that would take away days an issued
    invoice billed."""
    ended = []
    by_category: dict[str, list[list[Any]]] = {}
    for row in sorted(new, key=lambda r: (r[1], r[2])):
        by_category.setdefault(row[1], []).append(row)
    for category, rows in by_category.items():
        for earlier, later in itertools.pairwise(rows):
            if earlier[3] is None:
                earlier[3] = later[2]
            elif earlier[3] > later[2]:
                errors.append(FieldError("valid_to", f"chevauche le tarif {category} de la ligne {later[0]}",
                                         earlier[0]))
        first = rows[0]
        closed, problems = tariff_succession(conn, category, first[2], first[3])
        errors += [FieldError("valid_from", problem, first[0]) for problem in problems]
        if closed is not None:
            ended.append((closed, first[2]))
    return ended


def import_indices(conn: psycopg.Connection, text: str, source: str, *, actor: str) -> ImportReport:
    """Import index values (see the module docstring).

    Raises:
        ValidationError: every bad line; nothing written.
    """
    series = {r[0] for r in conn.execute("SELECT code FROM index_series")}
    existing = {(r[0], r[1]): (r[2], r[3]) for r in conn.execute(
        "SELECT series, month, value, published_on FROM index_values")}
    errors: list[FieldError] = []
    new_series: dict[str, tuple[str, str]] = {}
    new: list[tuple[Any, ...]] = []
    unchanged = 0
    seen: dict[tuple[str, date], int] = {}
    for line, row in _rows(text, source, INDEX_COLUMNS):
        c = FieldChecker(row, line)
        code = c.text("series")
        month = c.check("month", lambda v: parse_month(v[:7]) if len(v) in (7, 10) else parse_month(v))
        value = c.decimal("value", positive=True)
        published = c.day("published_on")
        if month and published and published < month:
            c.fail("published_on", "une valeur ne peut être publiée avant son mois")
        if code and code not in series and code not in new_series:
            if row.get("name"):
                new_series[code] = (row["name"], row.get("source", ""))
            else:
                c.fail("series", f"indice {code} inconnu : donner sa colonne name pour le créer")
        if code and month:
            key = (code, month)
            if key in seen:
                c.fail("month", f"même indice et même mois qu'à la ligne {seen[key]}")
            seen[key] = line
            if not c.errors and key in existing:
                if existing[key] == (value, published):
                    unchanged += 1
                else:
                    c.fail("value", f"{code} {month:%m/%Y} est déjà publié ({existing[key][0]}, le "
                                    f"{existing[key][1]:%d/%m/%Y}) : une valeur publiée ne se remplace pas")
                errors += c.errors
                continue
        errors += c.errors
        if not c.errors:
            new.append((code, month, value, published))
    if errors:
        raise ValidationError(errors, source)
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany("INSERT INTO index_series (code, name, source) VALUES (%s, %s, %s)",
                        [(k, n, s) for k, (n, s) in new_series.items()])
        cur.executemany("INSERT INTO index_values (series, month, value, published_on) VALUES (%s, %s, %s, %s)", new)
        audit(conn, actor, "imported", "index_values", None, {"file": source, "created": len(new)})
    return ImportReport(len(new), unchanged)


def import_formulas(conn: psycopg.Connection, text: str, source: str, *, actor: str) -> ImportReport:
    """Import indexation formulas (see the module docstring); each must satisfy a + Σ b = 1.

    Raises:
        ValidationError: every bad line; nothing written.
    """
    series = {r[0] for r in conn.execute("SELECT code FROM index_series")}
    labels = {_key(r[1]): r[0] for r in conn.execute("SELECT code, label FROM tariff_categories")}
    categories = set(labels.values())
    existing = {(r[0], r[1], r[2]) for r in conn.execute(
        "SELECT term, category, valid_from FROM indexation_formulas")}
    errors: list[FieldError] = []
    groups: dict[tuple[str, str | None, date], dict[str, Any]] = {}
    for line, row in _rows(text, source, FORMULA_COLUMNS):
        c = FieldChecker(row, line)
        term = c.choice("term", TERMS)
        category = c.text("category", required=False)
        if category and category not in categories:
            c.fail("category", f"catégorie {category} inconnue")
        start = _first_of_month(c, "valid_from")
        end = _first_of_month(c, "valid_to", required=False)
        fixed = c.decimal("fixed_part", minimum=Decimal(0), maximum=Decimal(1))
        lag = c.decimal("lag_months", minimum=Decimal(0), maximum=Decimal(24))
        code = c.text("series")
        if code and code not in series:
            c.fail("series", f"indice {code} inconnu (importer d'abord ses valeurs)")
        weight = c.decimal("weight", positive=True)
        base = c.decimal("base_value", positive=True)
        errors += c.errors
        if c.errors or term is None or start is None:
            continue
        key = (term, category, start)
        group = groups.setdefault(key, {"line": line, "end": end, "fixed": fixed, "lag": lag,
                                        "deliberation": row.get("deliberation", ""), "components": []})
        if (group["end"], group["fixed"], group["lag"]) != (end, fixed, lag):
            errors.append(FieldError("fixed_part", f"valid_to, fixed_part et lag_months doivent être ceux de la "
                                                   f"ligne {group['line']} (même formule)", line))
        if any(comp.series == code for comp in group["components"]):
            errors.append(FieldError("series", f"{code} figure deux fois dans la formule", line))
        group["components"].append(Component(str(code), weight or Decimal(0), base or Decimal(0)))
    created = 0
    formulas = []
    for (term, category, start), g in groups.items():
        formula = Formula(0, term, category, start, g["end"], g["fixed"], tuple(g["components"]), int(g["lag"]))
        errors += [FieldError(e.field, e.message, g["line"]) for e in check_formula(formula)]
        if (term, category, start) in existing:
            errors.append(FieldError("valid_from", f"une formule {term} au {start:%d/%m/%Y} existe déjà "
                                                   "(publier une nouvelle version à une autre date)", g["line"]))
        formulas.append((formula, g["deliberation"]))
    if errors:
        raise ValidationError(sorted(errors, key=lambda e: e.line or 0), source)
    with conn.transaction(), conn.cursor() as cur:
        for formula, deliberation in formulas:
            inserted = cur.execute("INSERT INTO indexation_formulas (term, category, valid_from, valid_to, fixed_part, "
                              "lag_months, deliberation) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                              (formula.term, formula.category, formula.valid_from, formula.valid_to, formula.fixed,
                               formula.lag_months, deliberation)).fetchone()
            assert inserted is not None  # noqa: S101
            cur.executemany("INSERT INTO indexation_components (formula_id, series, weight, base_value) "
                            "VALUES (%s, %s, %s, %s)",
                            [(inserted[0], comp.series, comp.weight, comp.base_value) for comp in formula.components])
            created += 1
        audit(conn, actor, "imported", "indexation_formulas", None, {"file": source, "created": created})
    return ImportReport(created, 0)


def import_subscribers(conn: psycopg.Connection, text: str, source: str, *, actor: str) -> ImportReport:
    """Import subscribers (columns of :data:`billing.records.SUBSCRIBER_FIELDS`; ``code`` and ``name``,
    the address and ``postcode``/``city`` required). A subscriber whose code exists is left unchanged.

    Raises:
        ValidationError: every bad line; nothing written.
    """
    return _import_each(conn, text, source, ("code", "name", "address_line1", "postcode", "city"),
                        "SELECT 1 FROM subscribers WHERE code = %s", "code",
                        lambda row: save_subscriber(conn, row, actor=actor))


def import_contracts(conn: psycopg.Connection, text: str, source: str, *, actor: str) -> ImportReport:
    """Import contracts (``number,subscriber,delivery_point,category,start_date,end_date,frequency,
    payment_method,mandate,power_kw``). A contract whose number exists is left unchanged.

    Raises:
        ValidationError: every bad line; nothing written.
    """
    return _import_each(conn, text, source, ("number", "subscriber", "delivery_point", "category", "start_date",
                                             "power_kw"),
                        "SELECT 1 FROM contracts WHERE number = %s", "number",
                        lambda row: save_contract(conn, row, actor=actor))


def _import_each(conn: psycopg.Connection, text: str, source: str, required: tuple[str, ...], exists: str,
                 key: str, save: Callable[[dict[str, str]], int]) -> ImportReport:
    """Save each line in one transaction (a savepoint per line); any bad line rolls everything back."""
    errors: list[FieldError] = []
    created = unchanged = 0
    with conn.transaction():
        for line, row in _rows(text, source, required):
            if row.get(key) and conn.execute(exists, (row[key],)).fetchone():
                unchanged += 1
                continue
            try:
                with conn.transaction():
                    save(row)
                created += 1
            except ValidationError as exc:
                errors += [FieldError(e.field, e.message, line) for e in exc.errors]
        if errors:
            raise ValidationError(errors, source)
    return ImportReport(created, unchanged)
