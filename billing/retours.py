"""What the public accountant says back: PES Retour files imported, the titres' states, the payments and
write-offs recorded against them, and what each invoice still owes.

An import is all or nothing and happens once per file (its SHA-256 is kept): reading the same file again
changes nothing. Within a file, each titre's state is set as the accountant gives it (a rejection with
its reason, for billing staff to fix), and each emargement is recorded once: the n-th identical one
(same origin, day and amount) of a titre is keyed by its rank, so that a later file repeating what an
earlier one said adds nothing either. Titres the régie does not know are named, never guessed.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from billing.errors import PesError
from billing.pes.retour import ORIGIN_LABELS, read_pes_retour
from billing.runs import audit


@dataclass(frozen=True)
class RetourImport:
    retour_id: int
    already: bool  # the file had been imported before: nothing changed
    titres: int  # titres of the file the régie knows
    states_changed: int
    emargements: int  # new emargements recorded
    unknown: list[str]  # titres of the file the régie does not know (French)
    rejected: list[str]  # the file's rejected titres, with the accountant's reason (French)


def import_retour(conn: psycopg.Connection, content: bytes, name: str, *, actor: str) -> RetourImport:
    """Record a PES Retour file: titres' states and emargements.

    Raises:
        PesError: the file is not valid against the schema, or is another collectivity's or budget's.
    """
    digest = hashlib.sha256(content).hexdigest()
    retour = read_pes_retour(content)
    with conn.transaction():
        conn.execute("LOCK TABLE pes_retours IN SHARE ROW EXCLUSIVE MODE")  # one import at a time
        seen = conn.execute("SELECT id, titres, unknown FROM pes_retours WHERE sha256 = %s", (digest,)).fetchone()
        if seen:
            return RetourImport(int(seen[0]), True, int(seen[1]), 0, 0, list(seen[2]), [])
        issuer = conn.execute("SELECT i.siret, p.cod_bud FROM billing_issuer i, pes_settings p").fetchone()
        if issuer is None or issuer[0] != retour.siret:
            raise PesError(f"ce fichier PES Retour est celui de la collectivité {retour.siret}, pas de la régie "
                           f"({issuer[0] if issuer else 'émetteur non renseigné'}) : rien n'a été importé")
        if issuer[1] != retour.budget:
            raise PesError(f"ce fichier PES Retour porte sur le budget {retour.budget}, celui de la régie est "
                           f"{issuer[1] or 'non renseigné'} : rien n'a été importé")
        known = {(int(r[1]), int(r[2])): (int(r[0]), r[3], r[4], r[5]) for r in conn.execute(
            "SELECT t.invoice_id, t.exercice, t.number, t.state, t.state_reason, i.number FROM titres t "
            "JOIN invoices i ON i.id = t.invoice_id WHERE t.budget = %s", (retour.budget,))}
        ids = [known[k][0] for k in ((t.exercice, t.number) for t in retour.titres) if k in known]
        recorded = {(int(r[0]), r[1], r[2], Decimal(r[3]), int(r[4])) for r in conn.execute(
            "SELECT invoice_id, origin, day, amount, rank FROM titre_emargements WHERE invoice_id = ANY(%s)", (ids,))}
        unknown, rejected, states, new = [], [], [], []
        for status in retour.titres:
            found = known.get((status.exercice, status.number))
            if found is None:
                unknown.append(f"titre n° {status.number} de {status.exercice} (bordereau {status.bordereau}) "
                               f"inconnu de la régie")
                continue
            invoice_id, state, reason, number = found
            if (state, reason) != (status.state, status.reason):
                states.append((status.state, status.reason, status.on, invoice_id))
            if status.state == "rejected":
                rejected.append(f"{number} (titre n° {status.number}) : {status.reason or 'sans motif donné'}")
            ranks: Counter[tuple[str, Any, Decimal]] = Counter()
            for e in status.emargements:
                ranks[(e.origin, e.on, e.amount)] += 1
                key = (invoice_id, e.origin, e.on, e.amount, ranks[(e.origin, e.on, e.amount)])
                if key not in recorded:
                    recorded.add(key)
                    new.append(key)
        matched = len(retour.titres) - len(unknown)
        row = conn.execute("INSERT INTO pes_retours (name, sha256, imported_by, content, titres, emargements, unknown) "
                           "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                           (name, digest, actor, content, matched, len(new), Jsonb(unknown))).fetchone()
        assert row is not None  # noqa: S101
        retour_id = int(row[0])
        with conn.cursor() as cur:
            cur.executemany("UPDATE titres SET state = %s, state_reason = %s, "
                            "state_at = coalesce(%s::date::timestamptz, now()) WHERE invoice_id = %s", states)
            cur.executemany("INSERT INTO titre_emargements (invoice_id, origin, day, amount, rank, retour_id) "
                            "VALUES (%s, %s, %s, %s, %s, %s)", [(*k, retour_id) for k in new])
        audit(conn, actor, "pes_retour_imported", "pes_retour", retour_id,
              {"name": name, "titres": matched, "states_changed": len(states), "emargements": len(new),
               "unknown": len(unknown)})
    return RetourImport(retour_id, False, matched, len(states), len(new), unknown, rejected)


def invoice_balance(conn: psycopg.Connection, invoice_id: int) -> dict[str, Any]:
    """What an invoice owes [€]: its total, its credit notes, the payments (matched by the régie, recorded
    by the public accountant against its titre, or collected by direct debit, less the debits that came
    back), the write-offs, and the rest (``due``); empty for anything but an issued invoice."""
    row = conn.execute("SELECT total, credited, paid + paid_accountant + debited - returned, written_off, due "
                       "FROM invoice_dues WHERE invoice_id = %s", (invoice_id,)).fetchone()
    if row is None:
        return {}
    total, credited, paid, written_off, due = (Decimal(v) for v in row)
    return {"total": total, "credited": credited, "paid": paid, "written_off": written_off, "due": due}


def emargements_of(conn: psycopg.Connection, invoice_id: int) -> list[dict[str, Any]]:
    return [{"origin": r[0], "label": ORIGIN_LABELS.get(r[0], r[0]), "day": r[1], "amount": r[2]}
            for r in conn.execute("SELECT origin, day, amount FROM titre_emargements WHERE invoice_id = %s "
                                  "ORDER BY day, id", (invoice_id,))]


def dues(conn: psycopg.Connection, invoice_ids: list[int]) -> dict[int, Decimal]:
    """What each of these issued invoices still owes [€] (see :func:`invoice_balance`)."""
    return {int(r[0]): Decimal(r[1]) for r in conn.execute(
        "SELECT invoice_id, due FROM invoice_dues_of(%s::bigint[])", (invoice_ids,))}


def account_summary(conn: psycopg.Connection, subscriber_id: int, today: date) -> dict[str, Decimal]:
    """A subscriber's account [€]: what its issued invoices still owe (``due``), of which past their due
    date (``overdue``), and the credit it holds from overpayments and monthly instalments not yet applied
    (``credit``)."""
    row = conn.execute(
        """SELECT coalesce(sum(due) FILTER (WHERE due > 0), 0),
                  coalesce(sum(due) FILTER (WHERE due > 0 AND due_date < %(today)s), 0),
                  (SELECT coalesce(sum(amount), 0) FROM payments WHERE subscriber_id = %(s)s AND invoice_id IS NULL)
                  + (SELECT coalesce(sum(n.amount), 0) FROM instalments n JOIN instalment_plans p ON p.id = n.plan_id
                     WHERE p.subscriber_id = %(s)s AND n.export_id IS NOT NULL)
                  - (SELECT coalesce(sum(r.amount), 0) FROM instalment_returns r
                     JOIN instalment_plans p ON p.id = r.plan_id WHERE p.subscriber_id = %(s)s)
                  - (SELECT coalesce(sum(a.amount), 0) FROM instalment_allocations a
                     JOIN instalment_plans p ON p.id = a.plan_id WHERE p.subscriber_id = %(s)s)
           FROM invoice_dues_of(ARRAY(SELECT id FROM invoices WHERE subscriber_id = %(s)s AND kind = 'invoice'
                                      AND status = 'issued'))""", {"s": subscriber_id, "today": today}).fetchone()
    assert row is not None  # noqa: S101
    return {"due": Decimal(row[0]), "overdue": Decimal(row[1]), "credit": Decimal(row[2])}
