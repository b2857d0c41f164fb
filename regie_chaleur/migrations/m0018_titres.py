"""Titres de recettes for the public accountant (PES V2 Aller).

- ``pes_settings``: how the régie collects (``accountant``: titres to the comptable public through
  Hélios; ``operator``: SEPA and bank files directly) and its identifiers in Hélios (one row).
- ``subscribers.helios_category`` / ``helios_legal_nature``: the debtor's CatTiers and NatJur.
- ``pes_counters``: the next bordereau number per exercice, budget and bordereau type, the next titre
  number per exercice and budget; numbers are never reused (a failed emission rolls back).
- ``pes_files``: each PES_Aller file as built and validated (append-only); ``pes_bordereaux`` in it;
  ``titres``: one per issued invoice or credit note, with its number and its state in Hélios.
- ``pes_retours``: each PES Retour file imported (append-only, once: its digest is unique);
  ``titre_emargements``: what the accountant recorded against a titre (payments, write-offs), each once
  (the n-th identical emargement of a titre is keyed by its rank, so a file read again adds nothing).
"""

from __future__ import annotations

import psycopg

from regie_chaleur.db.capabilities import Capabilities


def apply(cur: psycopg.Cursor, caps: Capabilities) -> None:
    cur.execute(TABLES)


TABLES = """
CREATE TABLE pes_settings (
    id           boolean PRIMARY KEY DEFAULT true CHECK (id),
    collection   text NOT NULL DEFAULT 'accountant' CHECK (collection IN ('accountant', 'operator')),
    id_post      text CHECK (id_post ~ '^[0-9]{6,7}$'),
    cod_col      text CHECK (cod_col ~ '^[0-9]{3}$'),
    cod_bud      text CHECK (cod_bud ~ '^[0-9A-Z][0-9]$'),
    product_code text NOT NULL DEFAULT 'CHAL' CHECK (product_code ~ '^[0-9A-Za-z]{1,4}$'),
    nature       text NOT NULL DEFAULT '70613' CHECK (nature ~ '^[0-9A-Z]{1,10}$')
);
COMMENT ON TABLE pes_settings IS 'How the régie collects, and its identifiers in Hélios (EnTetePES).';
INSERT INTO pes_settings DEFAULT VALUES;

ALTER TABLE subscribers
    ADD COLUMN helios_category text CHECK (helios_category ~ '^[0-9]{2}$'),
    ADD COLUMN helios_legal_nature text CHECK (helios_legal_nature ~ '^[0-9]{2}$');

CREATE TABLE pes_counters (
    series     text PRIMARY KEY,
    next_value bigint NOT NULL DEFAULT 1 CHECK (next_value >= 1)
);

CREATE TABLE pes_files (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    built_at   timestamptz NOT NULL DEFAULT now(),
    built_by   text NOT NULL,
    content    bytea NOT NULL,
    sha256     char(64) NOT NULL,
    titres     integer NOT NULL,
    total_ht   numeric(14, 2) NOT NULL
);
CREATE TRIGGER pes_files_append_only BEFORE UPDATE OR DELETE ON pes_files
    FOR EACH ROW EXECUTE FUNCTION append_only();

CREATE TABLE pes_bordereaux (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_id   bigint NOT NULL REFERENCES pes_files (id),
    exercice  integer NOT NULL,
    budget    text NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('01', '02')),
    number    integer NOT NULL CHECK (number BETWEEN 1 AND 9999999),
    run_id    bigint REFERENCES bill_runs (id),
    issued_on date NOT NULL,
    titres    integer NOT NULL,
    total_ht  numeric(14, 2) NOT NULL,
    UNIQUE (exercice, budget, kind, number)
);

CREATE TABLE titres (
    invoice_id   bigint PRIMARY KEY REFERENCES invoices (id),
    bordereau_id bigint NOT NULL REFERENCES pes_bordereaux (id),
    exercice     integer NOT NULL,
    budget       text NOT NULL,
    number       integer NOT NULL CHECK (number BETWEEN 1 AND 99999999),
    state        text NOT NULL DEFAULT 'sent'
                 CHECK (state IN ('sent', 'pending', 'taken', 'partial', 'rejected', 'cancelled')),
    state_reason text,
    state_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (exercice, budget, number)
);
CREATE INDEX titres_bordereau_idx ON titres (bordereau_id);

CREATE TABLE pes_retours (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    sha256      char(64) NOT NULL UNIQUE,
    imported_at timestamptz NOT NULL DEFAULT now(),
    imported_by text NOT NULL,
    content     bytea NOT NULL,
    titres      integer NOT NULL,
    emargements integer NOT NULL,
    unknown     jsonb NOT NULL DEFAULT '[]'
);
CREATE TRIGGER pes_retours_append_only BEFORE UPDATE OR DELETE ON pes_retours
    FOR EACH ROW EXECUTE FUNCTION append_only();

CREATE TABLE titre_emargements (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    invoice_id bigint NOT NULL REFERENCES titres (invoice_id),
    origin     text NOT NULL CHECK (origin ~ '^[0-9]{2}$'),
    day        date NOT NULL,
    amount     numeric(14, 2) NOT NULL CHECK (amount > 0),
    rank       integer NOT NULL CHECK (rank >= 1),
    retour_id  bigint NOT NULL REFERENCES pes_retours (id),
    UNIQUE (invoice_id, origin, day, amount, rank)
);
"""
