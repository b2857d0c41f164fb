"""Payments received by the régie itself (collection by the operator): bank statements (camt.053) and
their credit lines, and the payments each line was matched to.

- ``bank_statements``: each file imported, once (its digest is unique), append-only;
- ``bank_lines``: one credit entry of a statement, once whatever file brings it again (``bank_ref``: the
  bank's own reference of the entry, else a digest of what identifies it), with its matching state;
- ``payments``: a line's money applied to an invoice, or kept as a credit on the subscriber's account
  (``invoice_id`` NULL); a line is applied to an invoice at most once.
"""

from __future__ import annotations

import psycopg

from regie_chaleur.db.capabilities import Capabilities


def apply(cur: psycopg.Cursor, caps: Capabilities) -> None:
    cur.execute(TABLES)


TABLES = """
CREATE TABLE bank_statements (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    sha256      char(64) NOT NULL UNIQUE,
    account     text,
    imported_at timestamptz NOT NULL DEFAULT now(),
    imported_by text NOT NULL,
    content     bytea NOT NULL,
    lines       integer NOT NULL
);
CREATE TRIGGER bank_statements_append_only BEFORE UPDATE OR DELETE ON bank_statements
    FOR EACH ROW EXECUTE FUNCTION append_only();

CREATE TABLE bank_lines (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    statement_id bigint NOT NULL REFERENCES bank_statements (id),
    bank_ref     text NOT NULL UNIQUE,
    booked_on    date NOT NULL,
    amount       numeric(14, 2) NOT NULL CHECK (amount > 0),
    debtor_name  text,
    debtor_iban  text,
    reference    text,
    remittance   text,
    state        text NOT NULL DEFAULT 'unmatched'
                 CHECK (state IN ('matched', 'partial', 'overpaid', 'unmatched', 'assigned')),
    matched_by   text CHECK (matched_by IN ('reference', 'invoice_number', 'amount_payer', 'manual'))
);
CREATE INDEX bank_lines_unmatched_idx ON bank_lines (booked_on) WHERE state = 'unmatched';

CREATE TABLE payments (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    line_id       bigint NOT NULL REFERENCES bank_lines (id),
    invoice_id    bigint REFERENCES invoices (id),
    subscriber_id bigint NOT NULL REFERENCES subscribers (id),
    amount        numeric(14, 2) NOT NULL CHECK (amount > 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text NOT NULL,
    UNIQUE NULLS NOT DISTINCT (line_id, invoice_id)
);
CREATE INDEX payments_invoice_idx ON payments (invoice_id);
CREATE INDEX payments_subscriber_idx ON payments (subscriber_id);
"""
