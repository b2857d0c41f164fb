"""Payments received by the régie itself (collection by the operator): bank statements (camt.053) and
their credit lines, and the payments each line was matched to.

- ``bank_statements``: each file imported, once (its digest is unique), append-only;
- ``bank_lines``: one credit entry of a statement, once whatever file brings it again (``bank_ref``: the
  bank's own reference of the entry, else a digest of what identifies it), with its matching state;
- ``payments``: a line's money applied to an invoice, or kept as a credit on the subscriber's account
  (``invoice_id`` NULL); a line is applied to an invoice at most once.
- ``sepa_returns``: a direct debit that came back (pain.002 reject, camt.054 return), with its ISO 20022
  reason code, once per bank reference; ``sepa_return_files``: each file read, once.
- ``invoice_dues``: what each issued invoice still owes [€]: its total, less its credit notes, the
  payments matched to it, what the public accountant recorded against its titre (payments and write-offs),
  its direct debits; plus the direct debits that came back.
- ``reminders``: the amicable reminders sent for an invoice (one per level); ``billing_policy`` gains
  the late-payment interest rate of professional debtors (C. com. L.441-10: at least three times the
  legal rate; by default the ECB's rate plus 10 points, to be updated each half-year).
- ``sepa_mandates.status`` gains ``suspended`` (a return said the account or the mandate is no longer
  usable), with the reason.
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
    matched_by   text CHECK (matched_by IN ('reference', 'invoice_number', 'amount_payer', 'manual', 'direct_debit'))
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

CREATE TABLE sepa_return_files (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('pain.002', 'camt.054')),
    sha256      char(64) NOT NULL UNIQUE,
    imported_at timestamptz NOT NULL DEFAULT now(),
    imported_by text NOT NULL,
    content     bytea NOT NULL,
    returns     integer NOT NULL
);
CREATE TRIGGER sepa_return_files_append_only BEFORE UPDATE OR DELETE ON sepa_return_files
    FOR EACH ROW EXECUTE FUNCTION append_only();

CREATE TABLE sepa_returns (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_id     bigint NOT NULL REFERENCES sepa_return_files (id),
    bank_ref    text NOT NULL UNIQUE,
    invoice_id  bigint NOT NULL REFERENCES invoices (id),
    mandate_id  bigint NOT NULL REFERENCES sepa_mandates (id),
    reason      text NOT NULL CHECK (reason ~ '^[A-Z0-9]{4}$'),
    amount      numeric(14, 2) NOT NULL CHECK (amount > 0),
    returned_on date NOT NULL
);
CREATE INDEX sepa_returns_invoice_idx ON sepa_returns (invoice_id);

CREATE INDEX sepa_mandates_subscriber_idx ON sepa_mandates (subscriber_id);
ALTER TABLE sepa_mandates DROP CONSTRAINT sepa_mandates_status_check,
    ADD CONSTRAINT sepa_mandates_status_check CHECK (status IN ('active', 'suspended', 'revoked')),
    ADD COLUMN status_reason text;

CREATE TABLE reminders (
    invoice_id bigint NOT NULL REFERENCES invoices (id),
    level      integer NOT NULL CHECK (level BETWEEN 1 AND 3),
    sent_on    date NOT NULL,
    sent_by    text NOT NULL,
    PRIMARY KEY (invoice_id, level)
);
ALTER TABLE billing_policy
    ADD COLUMN late_interest_pct numeric(5, 2) NOT NULL DEFAULT 12.15 CHECK (late_interest_pct BETWEEN 0 AND 50),
    ADD COLUMN reminder_days integer[] NOT NULL DEFAULT '{15,30,45}'
        CHECK (cardinality(reminder_days) = 3 AND reminder_days[1] >= 1
               AND reminder_days[1] < reminder_days[2] AND reminder_days[2] < reminder_days[3]);

CREATE VIEW invoice_dues AS
SELECT i.id AS invoice_id, i.subscriber_id, i.number, i.due_date, i.total_ttc AS total,
       coalesce(c.amount, 0) AS credited, coalesce(p.amount, 0) AS paid, coalesce(e.paid, 0) AS paid_accountant,
       coalesce(e.other, 0) AS written_off, coalesce(d.amount, 0) AS debited, coalesce(r.amount, 0) AS returned,
       i.total_ttc - coalesce(c.amount, 0) - coalesce(p.amount, 0) - coalesce(e.paid, 0) - coalesce(e.other, 0)
           - coalesce(d.amount, 0) + coalesce(r.amount, 0) AS due
FROM invoices i
LEFT JOIN (SELECT corrects_invoice_id AS id, sum(total_ttc) AS amount FROM invoices
           WHERE kind = 'credit_note' AND status = 'issued' GROUP BY 1) c ON c.id = i.id
LEFT JOIN (SELECT invoice_id AS id, sum(amount) AS amount FROM payments WHERE invoice_id IS NOT NULL
           GROUP BY 1) p ON p.id = i.id
LEFT JOIN (SELECT invoice_id AS id, sum(amount) FILTER (WHERE origin IN ('01', '02', '03', '10', '11')) AS paid,
                  sum(amount) FILTER (WHERE origin NOT IN ('01', '02', '03', '10', '11')) AS other
           FROM titre_emargements GROUP BY 1) e ON e.id = i.id
LEFT JOIN (SELECT invoice_id AS id, sum(amount) AS amount FROM sepa_export_items GROUP BY 1) d ON d.id = i.id
LEFT JOIN (SELECT invoice_id AS id, sum(amount) AS amount FROM sepa_returns GROUP BY 1) r ON r.id = i.id
WHERE i.kind = 'invoice' AND i.status = 'issued';
COMMENT ON VIEW invoice_dues IS 'What each issued invoice still owes [€] (due), and why.';
"""
