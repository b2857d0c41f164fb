"""Titres de recettes: issued invoices and credit notes handed to the public accountant in PES V2 files.

When the régie collects through the comptable public (``pes_settings.collection = 'accountant'``),
each issued invoice becomes one ordinary titre and each issued credit note one reduction titre attached
to its invoice's titre. An emission takes every issued document that has no titre yet (or those of one
run), numbers them, builds the PES_Aller file (one bordereau of ordinary titres per bill run, one of
reductions), validates it against the DGFiP's schema and stores it, all in one transaction: a file that
does not validate stores nothing and uses no number.

Numbers: titres in one sequence per exercice (the emission's year) and budget; bordereaux in one
sequence per exercice, budget and bordereau type; never reused.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from billing.errors import FieldError, NotFoundError, StateError, ValidationError
from billing.exports.sepa import PRE_NOTIFICATION_DAYS
from billing.pes import aller, codes
from billing.pes.schema import validate
from billing.runs import audit

SETTING_FIELDS = ("collection", "id_post", "cod_col", "cod_bud", "product_code", "nature")
SETTING_PATTERNS = {"id_post": (r"[0-9]{6,7}", "6 ou 7 chiffres (codique du poste comptable)"),
                    "cod_col": (r"[0-9]{3}", "3 chiffres"),
                    "cod_bud": (r"[0-9A-Z][0-9]", "2 caractères : un chiffre ou une majuscule, puis un chiffre"),
                    "product_code": (r"[0-9A-Za-z]{1,4}", "1 à 4 lettres ou chiffres"),
                    "nature": (r"[0-9A-Z]{1,10}", "le compte de recette, chiffres (ex. 70613)")}
TITRE_STATES = {"sent": "transmis au comptable", "pending": "en instance", "taken": "pris en charge",
                "partial": "partiellement recouvré", "rejected": "rejeté", "cancelled": "annulé"}
COLLECTIONS = {"accountant": "par le comptable public (titres PES V2)",
               "operator": "par la régie elle-même (prélèvements et virements)"}


@dataclass(frozen=True)
class Emission:
    file_id: int
    name: str
    bordereaux: int
    titres: int
    total_ht: Decimal  # [€] ordinary titres minus reductions
    left_out: list[str]  # documents not emitted, with why (French)


def read_settings(conn: psycopg.Connection) -> dict[str, Any]:
    row = conn.execute("SELECT collection, id_post, cod_col, cod_bud, product_code, nature FROM pes_settings"
                       ).fetchone()
    return dict(zip(SETTING_FIELDS, row, strict=True)) if row else dict.fromkeys(SETTING_FIELDS)


def save_settings(conn: psycopg.Connection, data: dict[str, Any], *, actor: str) -> None:
    """Set how the régie collects and its identifiers in Hélios.

    Raises:
        ValidationError: every field that is wrong; nothing written.
    """
    values: dict[str, Any] = {}
    errors = []
    collection = str(data.get("collection") or "accountant").strip()
    if collection not in COLLECTIONS:
        errors.append(FieldError("collection", f"« {collection} » : accountant ou operator"))
    values["collection"] = collection
    for name, (pattern, hint) in SETTING_PATTERNS.items():
        value = str(data.get(name) or "").strip().upper() if name != "product_code" else str(
            data.get(name) or "").strip()
        if not value and name in ("id_post", "cod_col", "cod_bud"):
            values[name] = None
            continue
        if not re.fullmatch(pattern, value):
            errors.append(FieldError(name, f"« {value} » invalide : {hint}"))
        values[name] = value
    if errors:
        raise ValidationError(errors)
    with conn.transaction():
        conn.execute("UPDATE pes_settings SET (collection, id_post, cod_col, cod_bud, product_code, nature) = "
                     "(%(collection)s, %(id_post)s, %(cod_col)s, %(cod_bud)s, %(product_code)s, %(nature)s)", values)
        audit(conn, actor, "pes_settings_saved", "pes_settings", None, {k: values[k] for k in SETTING_FIELDS})


def emit_titres(conn: psycopg.Connection, *, actor: str, on: date, run_id: int | None = None,
                limit: int | None = None, attach_pdfs: bool = True) -> Emission:
    """Number the titres of the issued documents that have none (those of ``run_id`` only, if given; the
    first ``limit`` in number order, if given), build and validate their PES_Aller file and store it.

    ``attach_pdfs=False`` leaves the invoices' PDFs out of the file (sent apart, when the tiers de
    transmission limits a file's size); by default each titre carries its PDF.

    Raises:
        StateError: the régie collects by itself, its Hélios identifiers are missing, a document's PDF is
            not generated yet, or nothing is left to emit.
        PesError: the file does not validate against the schema (nothing is stored).
    """
    with conn.transaction():
        settings = conn.execute("SELECT collection, id_post, cod_col, cod_bud, product_code, nature "
                                "FROM pes_settings FOR UPDATE").fetchone()
        if settings is None or settings[0] != "accountant":
            raise StateError("la régie encaisse elle-même ses factures (réglage « encaissement ») : "
                             "pas de titres de recettes à émettre")
        missing = [label for label, value in zip(("codique du poste comptable", "code collectivité",
                                                  "code budget"), settings[1:4], strict=True) if not value]
        if missing:
            raise StateError(f"identifiants Hélios à renseigner d'abord : {', '.join(missing)}")
        name = conn.execute("SELECT name, siret, accountant FROM billing_issuer").fetchone()
        if name is None:
            raise StateError("l'émetteur des factures n'est pas renseigné")
        coll = aller.Collectivite(name[0], name[1], settings[1], settings[2], settings[3], settings[4], settings[5],
                                  name[2])
        invoices, credits, left_out = _pending(conn, run_id, limit)
        if not invoices and not credits:
            raise StateError("aucune facture ni aucun avoir émis sans titre" + (f" dans la tournée {run_id}"
                                                                               if run_id else ""))
        pdfs = _pdfs(conn, [d["id"] for d in invoices + credits]) if attach_pdfs else {}
        without = [d["number"] for d in invoices + credits if d["id"] not in pdfs] if attach_pdfs else []
        if without:
            raise StateError(f"PDF pas encore générés pour {len(without)} document(s) ({', '.join(without[:5])}"
                             f"{'…' if len(without) > 5 else ''}) : réessayez quand leur génération est finie")
        exercice, budget = on.year, coll.cod_bud
        first_collected = _mandates_collected(conn)
        titre_numbers: dict[int, tuple[int, int]] = dict(_existing_numbers(conn, [d["original_id"] for d in credits]))
        bordereaux: list[tuple[aller.Bordereau, int | None, list[int]]] = []
        by_run: dict[int | None, list[dict[str, Any]]] = defaultdict(list)
        for doc in invoices:
            by_run[doc["run_id"]].append(doc)
        next_titre = _next(conn, f"titre/{exercice}/{budget}", len(invoices) + len(credits))
        for run, docs in sorted(by_run.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
            titres = []
            for doc in docs:
                number, next_titre = next_titre, next_titre + 1
                titre_numbers[doc["id"]] = (exercice, number)
                titres.append(_titre(doc, number, pdfs.get(doc["id"]), first_collected, on))
            bordereaux.append((aller.Bordereau(exercice, _next(conn, f"bordereau/{exercice}/{budget}/01"), on,
                                               aller.ORDINARY, tuple(titres)), run, [d["id"] for d in docs]))
        if credits:
            titres = []
            for doc in credits:
                number, next_titre = next_titre, next_titre + 1
                titres.append(_titre(doc, number, pdfs.get(doc["id"]), first_collected, on,
                                     reduces=titre_numbers[doc["original_id"]]))
            bordereaux.append((aller.Bordereau(exercice, _next(conn, f"bordereau/{exercice}/{budget}/02"), on,
                                               aller.REDUCTION, tuple(titres)), None, [d["id"] for d in credits]))
        file_no = _next(conn, f"fichier/{exercice}/{budget}")
        file_name = f"PES_{coll.cod_col}{budget}_{exercice}_{file_no:05d}"
        content = aller.build_pes_aller(coll, [b for b, _, _ in bordereaux], file_name, on)
        validate(content)
        count = sum(len(b.titres) for b, _, _ in bordereaux)
        total = sum((b.total_ht if b.kind == aller.ORDINARY else -b.total_ht for b, _, _ in bordereaux), Decimal(0))
        row = conn.execute("INSERT INTO pes_files (name, built_by, content, sha256, titres, total_ht) "
                           "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                           (file_name, actor, content, hashlib.sha256(content).hexdigest(), count, total)).fetchone()
        assert row is not None  # noqa: S101
        file_id = int(row[0])
        for bordereau, run, doc_ids in bordereaux:
            brow = conn.execute(
                "INSERT INTO pes_bordereaux (file_id, exercice, budget, kind, number, run_id, issued_on, titres, "
                "total_ht) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (file_id, exercice, budget, bordereau.kind, bordereau.number, run, on, len(bordereau.titres),
                 bordereau.total_ht)).fetchone()
            assert brow is not None  # noqa: S101
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO titres (invoice_id, bordereau_id, exercice, budget, number) "
                    "VALUES (%s, %s, %s, %s, %s)",
                    [(doc_id, brow[0], exercice, budget, t.number)
                     for doc_id, t in zip(doc_ids, bordereau.titres, strict=True)])
        audit(conn, actor, "titres_emitted", "pes_file", file_id,
              {"name": file_name, "titres": count, "total_ht": str(total), "run_id": run_id})
    return Emission(file_id, file_name, len(bordereaux), count, total, left_out)


def _pending(conn: psycopg.Connection, run_id: int | None, limit: int | None = None
             ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """Issued invoices and credit notes without titre; credit notes only once their invoice has one (or
    gets one now); documents of a zero or negative total are left out, named."""
    ids = [r[0] for r in conn.execute(  # first the documents alone, then their details by id (whatever the
        # statistics say of invoices written a minute ago, the details join on an id list of known length)
        """SELECT i.id FROM invoices i
           WHERE i.status = 'issued' AND NOT EXISTS (SELECT 1 FROM titres t WHERE t.invoice_id = i.id)
             AND (%(run)s::bigint IS NULL OR i.run_id = %(run)s
                  OR i.kind = 'credit_note' AND i.corrects_invoice_id IN (SELECT o.id FROM invoices o
                                                                          WHERE o.run_id = %(run)s))
           ORDER BY i.number LIMIT %(limit)s""", {"run": run_id, "limit": limit})]
    rows = conn.execute(
        """SELECT i.id, i.kind, i.number, i.run_id, i.corrects_invoice_id, i.period_start, i.period_end,
                  i.issue_date, i.due_date, i.total_ttc, i.buyer, i.payment, s.helios_category,
                  s.helios_legal_nature, c.mandate_id, t.invoice_id IS NOT NULL AS original_titled
           FROM unnest(%(ids)s::bigint[]) WITH ORDINALITY AS x (id, n) JOIN invoices i ON i.id = x.id
           JOIN subscribers s ON s.id = i.subscriber_id JOIN contracts c ON c.id = i.contract_id
           LEFT JOIN titres t ON t.invoice_id = i.corrects_invoice_id
           ORDER BY x.n""", {"ids": ids}).fetchall()
    keys = ("id", "kind", "number", "run_id", "original_id", "period_start", "period_end", "issue_date", "due_date",
            "total_ttc", "buyer", "payment", "helios_category", "helios_legal_nature", "mandate_id", "original_titled")
    docs = [dict(zip(keys, r, strict=True)) for r in rows]
    vat: dict[int, list[tuple[Decimal, Decimal, Decimal]]] = defaultdict(list)
    for invoice_id, rate, base, amount in conn.execute(
            "SELECT invoice_id, rate, base, vat FROM invoice_vat WHERE invoice_id = ANY(%s) ORDER BY rate",
            ([d["id"] for d in docs],)):
        vat[invoice_id].append((rate, base, amount))
    for d in docs:
        d["vat"] = vat[d["id"]]
    left_out = [f"{d['number']} : montant nul, rien à recouvrer" for d in docs
                if d["kind"] == "invoice" and d["total_ttc"] <= 0]
    invoices = [d for d in docs if d["kind"] == "invoice" and d["total_ttc"] > 0]
    emitted_now = {d["id"] for d in invoices}
    credits = []
    for d in docs:
        if d["kind"] != "credit_note":
            continue
        if d["total_ttc"] == 0:
            left_out.append(f"{d['number']} : avoir de montant nul")
        elif not (d["original_titled"] or d["original_id"] in emitted_now):
            left_out.append(f"{d['number']} : la facture qu'il corrige n'a pas de titre")
        else:
            credits.append(d)
    return invoices, credits, left_out


def _titre(doc: dict[str, Any], number: int, pdf: bytes | None, first_collected: set[int], on: date,
           reduces: tuple[int, int] | None = None) -> aller.Titre:
    buyer = doc["buyer"]
    category, nature = ((doc["helios_category"], doc["helios_legal_nature"]) if doc["helios_category"]
                        else codes.default_codes(bool(buyer.get("public_entity"))))
    tiers = aller.Tiers(buyer["code"], buyer["name"], category, nature, buyer["address_line1"], buyer["postcode"],
                        buyer["city"], buyer.get("country") or "FR", buyer.get("address_line2"),
                        buyer.get("siret") if category in codes.PUBLIC_CATEGORIES or buyer.get("siret") else None)
    last_day = doc["period_end"] - timedelta(days=1)
    period = f"du {doc['period_start']:%d/%m/%Y} au {last_day:%d/%m/%Y}"
    kind = "Avoir" if doc["kind"] == "credit_note" else "Facture"
    vat = _vat_lines(doc, period)
    debit = None
    payment = doc["payment"]
    if doc["kind"] == "invoice" and payment.get("method") == "sepa" and doc["mandate_id"] is not None:
        signed = payment.get("mandate_signed_on")
        debit = aller.DirectDebit(
            payment["mandate_reference"], date.fromisoformat(signed) if signed else on,
            max(doc["due_date"], on + timedelta(days=PRE_NOTIFICATION_DAYS)), abs(doc["total_ttc"]),
            "RCUR" if doc["mandate_id"] in first_collected else "FRST",
            f"{kind} {doc['number']} chauffage urbain {period}")
        first_collected.add(doc["mandate_id"])
    public = category in codes.PUBLIC_CATEGORIES
    return aller.Titre(
        number, f"{kind} {doc['number']} · chauffage urbain {period} · {buyer.get('delivery_point') or ''}".strip(),
        doc["number"], doc["period_start"], last_day, tiers, vat,
        aller.Attachment(re.sub(r"[^0-9A-Za-z]", "", doc["number"]), f"{doc['number']}.pdf", pdf,
                         f"{kind} {doc['number']}") if pdf is not None else None,
        debit, buyer.get("chorus_service_code") if public else None,
        buyer.get("chorus_engagement") if public else None, reduces)


def _vat_lines(doc: dict[str, Any], period: str) -> tuple[aller.Line, ...]:
    """One line per VAT rate (amounts positive: a reduction titre carries the amount reduced); a document
    whose bases do not all have the sign of its total gets one line of its total, VAT included."""
    rows = doc["vat"]
    sign = 1 if doc["total_ttc"] > 0 else -1
    if all(base * sign > 0 for _, base, _ in rows):
        return tuple(aller.Line(f"Chaleur {period}, TVA {rate} %", base * sign, rate, vat * sign)
                     for rate, base, vat in rows)
    return (aller.Line(f"Chaleur {period}, TVA comprise", abs(doc["total_ttc"]), None, Decimal(0)),)


def _pdfs(conn: psycopg.Connection, ids: list[int]) -> dict[int, bytes]:
    return {int(r[0]): bytes(r[1]) for r in conn.execute(
        "SELECT invoice_id, content FROM invoice_documents WHERE kind = 'facturx_pdf' AND invoice_id = ANY(%s)",
        (ids,))}


def _mandates_collected(conn: psycopg.Connection) -> set[int]:
    """Mandates already presented once (a SEPA export, or an earlier titre with a direct debit)."""
    return {int(r[0]) for r in conn.execute(
        """SELECT x.mandate_id FROM sepa_export_items x
           WHERE NOT EXISTS (SELECT 1 FROM sepa_returns r WHERE r.invoice_id = x.invoice_id)
           UNION SELECT c.mandate_id FROM titres t JOIN invoices i ON i.id = t.invoice_id
                 JOIN contracts c ON c.id = i.contract_id
           WHERE c.mandate_id IS NOT NULL AND i.payment ->> 'method' = 'sepa' AND i.kind = 'invoice'""")}


def _existing_numbers(conn: psycopg.Connection, invoice_ids: list[int]) -> list[tuple[int, tuple[int, int]]]:
    return [(int(r[0]), (int(r[1]), int(r[2]))) for r in conn.execute(
        "SELECT invoice_id, exercice, number FROM titres WHERE invoice_id = ANY(%s)", (invoice_ids,))]


def _next(conn: psycopg.Connection, series: str, count: int = 1) -> int:
    """The first of ``count`` numbers taken from ``series`` (in this transaction: a rollback gives them back)."""
    row = conn.execute("INSERT INTO pes_counters (series, next_value) VALUES (%(s)s, %(n)s + 1) ON CONFLICT (series) "
                       "DO UPDATE SET next_value = pes_counters.next_value + %(n)s RETURNING next_value - %(n)s",
                       {"s": series, "n": count}).fetchone()
    assert row is not None  # noqa: S101
    return int(row[0])


def list_files(conn: psycopg.Connection, limit: int = 50) -> list[dict[str, Any]]:
    keys = ("id", "name", "built_at", "built_by", "titres", "total_ht", "bordereaux")
    return [dict(zip(keys, r, strict=True)) for r in conn.execute(
        "SELECT f.id, f.name, f.built_at, f.built_by, f.titres, f.total_ht, "
        "(SELECT string_agg(CASE b.kind WHEN '01' THEN 'n° ' ELSE 'réduction n° ' END || b.number, ', ' "
        "ORDER BY b.kind, b.number) FROM pes_bordereaux b WHERE b.file_id = f.id) "
        "FROM pes_files f ORDER BY f.id DESC LIMIT %s", (limit,))]


def read_file(conn: psycopg.Connection, file_id: int) -> tuple[str, bytes, datetime]:
    row = conn.execute("SELECT name, content, built_at FROM pes_files WHERE id = %s", (file_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"fichier PES {file_id} inconnu")
    return row[0], bytes(row[1]), row[2]


def titre_of(conn: psycopg.Connection, invoice_id: int) -> dict[str, Any] | None:
    """The titre of an invoice or credit note: its numbers and its state in Hélios."""
    row = conn.execute(
        "SELECT t.exercice, t.budget, t.number, b.number, b.kind, t.state, t.state_reason, t.state_at, b.file_id "
        "FROM titres t JOIN pes_bordereaux b ON b.id = t.bordereau_id WHERE t.invoice_id = %s",
        (invoice_id,)).fetchone()
    if row is None:
        return None
    return dict(zip(("exercice", "budget", "number", "bordereau", "bordereau_kind", "state", "state_reason",
                     "state_at", "file_id"), row, strict=True))
