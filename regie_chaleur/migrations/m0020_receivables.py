"""Reminders e-mailed, monthly instalments (mensualisation), online payment through PayFiP.

- ``reminders.emailed_to``: the address a reminder letter was e-mailed to (null: to be posted).
- ``instalment_plans``: a subscriber's choice of paying by equal monthly debits on its SEPA mandate,
  from the expected yearly amount [€]; ``instalments`` its schedule (the amounts add up to the expected
  amount exactly); ``instalment_exports`` the pain.008 files that collected them; ``instalment_returns``
  the debits of instalments that came back (pain.002, camt.054).
- ``instalment_allocations``: at the yearly regularisation, what was collected is applied to the
  subscriber's invoices of the plan's year, oldest first; the view ``invoice_dues`` counts it as paid.
- ``mandate_collected(mandate)``: whether the mandate's next direct debit is RCUR (FRST otherwise).
- ``invoice_dues_of(ids)``: the view's ``due`` for a few invoices, read through the indexes.
- ``payfip_settings`` and ``online_payments``: subscribers paying a titre online through the DGFiP's
  PayFiP, each payment started with its PayFiP operation id and the result PayFiP gave for it.
"""

from __future__ import annotations

import psycopg

from regie_chaleur.db.capabilities import Capabilities


def apply(cur: psycopg.Cursor, caps: Capabilities) -> None:
    cur.execute(TABLES)
    cur.execute(VIEW)
    cur.execute(PAYFIP)


TABLES = """
ALTER TABLE reminders ADD COLUMN emailed_to text;

CREATE TABLE instalment_plans (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscriber_id   bigint NOT NULL REFERENCES subscribers (id),
    mandate_id      bigint NOT NULL REFERENCES sepa_mandates (id),
    period_start    date NOT NULL CHECK (extract(day FROM period_start) = 1),
    period_end      date NOT NULL,  -- exclusive: the invoices of [period_start, period_end) are regularised
    expected_amount numeric(14, 2) NOT NULL CHECK (expected_amount > 0),
    basis           text NOT NULL,
    debit_day       integer NOT NULL CHECK (debit_day BETWEEN 1 AND 28),
    chosen_on       date NOT NULL,
    created_by      text NOT NULL,
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'regularised', 'cancelled')),
    regularised_on  date,
    regularised_by  text,
    CHECK (period_end > period_start)
);
CREATE UNIQUE INDEX instalment_plans_one_active ON instalment_plans (subscriber_id) WHERE status = 'active';

CREATE TABLE instalment_exports (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    collection_date date NOT NULL UNIQUE,
    message_id      text NOT NULL UNIQUE,
    content         bytea NOT NULL,
    payments        integer NOT NULL,
    total           numeric(14, 2) NOT NULL,
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER instalment_exports_append_only BEFORE UPDATE OR DELETE ON instalment_exports
    FOR EACH ROW EXECUTE FUNCTION append_only();

CREATE TABLE instalments (
    plan_id       bigint NOT NULL REFERENCES instalment_plans (id),
    seq           integer NOT NULL CHECK (seq >= 1),
    due_on        date NOT NULL,
    amount        numeric(14, 2) NOT NULL CHECK (amount > 0),
    export_id     bigint REFERENCES instalment_exports (id),
    sequence_type text CHECK (sequence_type IN ('FRST', 'RCUR')),
    PRIMARY KEY (plan_id, seq)
);
CREATE INDEX instalments_due_idx ON instalments (due_on) WHERE export_id IS NULL;

CREATE TABLE instalment_allocations (
    plan_id    bigint NOT NULL REFERENCES instalment_plans (id),
    invoice_id bigint NOT NULL REFERENCES invoices (id),
    amount     numeric(14, 2) NOT NULL CHECK (amount > 0),
    PRIMARY KEY (plan_id, invoice_id)
);
CREATE INDEX instalment_allocations_invoice_idx ON instalment_allocations (invoice_id);

CREATE TABLE instalment_returns (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_id     bigint NOT NULL REFERENCES sepa_return_files (id),
    bank_ref    text NOT NULL UNIQUE,
    plan_id     bigint NOT NULL,
    seq         integer NOT NULL,
    reason      text NOT NULL CHECK (reason ~ '^[A-Z0-9]{4}$'),
    amount      numeric(14, 2) NOT NULL CHECK (amount > 0),
    returned_on date NOT NULL,
    FOREIGN KEY (plan_id, seq) REFERENCES instalments (plan_id, seq)
);
CREATE INDEX instalment_returns_plan_idx ON instalment_returns (plan_id, seq);

CREATE FUNCTION mandate_collected(mandate bigint) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM sepa_export_items x WHERE x.mandate_id = mandate
                   AND NOT EXISTS (SELECT 1 FROM sepa_returns r WHERE r.invoice_id = x.invoice_id
                                   AND r.mandate_id = x.mandate_id))
        OR EXISTS (SELECT 1 FROM instalments n JOIN instalment_plans p ON p.id = n.plan_id
                   WHERE p.mandate_id = mandate AND n.export_id IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM instalment_returns r WHERE r.plan_id = n.plan_id AND r.seq = n.seq))
$$;
COMMENT ON FUNCTION mandate_collected IS 'A collection on this mandate went through (an invoice debited and not '
    'returned, or an instalment collected): its next one is RCUR, else FRST.';
"""

VIEW = """
CREATE INDEX invoices_corrects_idx ON invoices (corrects_invoice_id) WHERE corrects_invoice_id IS NOT NULL;
CREATE INDEX sepa_export_items_invoice_idx ON sepa_export_items (invoice_id);
CREATE OR REPLACE VIEW invoice_dues AS
SELECT i.id AS invoice_id, i.subscriber_id, i.number, i.due_date, i.total_ttc AS total,
       coalesce(c.amount, 0) AS credited, coalesce(p.amount, 0) + coalesce(a.amount, 0) AS paid,
       coalesce(e.paid, 0) AS paid_accountant,
       coalesce(e.other, 0) AS written_off, coalesce(d.amount, 0) AS debited, coalesce(r.amount, 0) AS returned,
       i.total_ttc - coalesce(c.amount, 0) - coalesce(p.amount, 0) - coalesce(a.amount, 0) - coalesce(e.paid, 0)
           - coalesce(e.other, 0) - coalesce(d.amount, 0) + coalesce(r.amount, 0) AS due
FROM invoices i
LEFT JOIN (SELECT corrects_invoice_id AS id, sum(total_ttc) AS amount FROM invoices
           WHERE kind = 'credit_note' AND status = 'issued' GROUP BY 1) c ON c.id = i.id
LEFT JOIN (SELECT invoice_id AS id, sum(amount) AS amount FROM payments WHERE invoice_id IS NOT NULL
           GROUP BY 1) p ON p.id = i.id
LEFT JOIN (SELECT invoice_id AS id, sum(amount) AS amount FROM instalment_allocations GROUP BY 1) a ON a.id = i.id
LEFT JOIN (SELECT invoice_id AS id, sum(amount) FILTER (WHERE origin IN ('01', '02', '03', '10', '11')) AS paid,
                  sum(amount) FILTER (WHERE origin NOT IN ('01', '02', '03', '10', '11')) AS other
           FROM titre_emargements GROUP BY 1) e ON e.id = i.id
LEFT JOIN (SELECT invoice_id AS id, sum(amount) AS amount FROM sepa_export_items GROUP BY 1) d ON d.id = i.id
LEFT JOIN (SELECT invoice_id AS id, sum(amount) AS amount FROM sepa_returns GROUP BY 1) r ON r.id = i.id
WHERE i.kind = 'invoice' AND i.status = 'issued';

CREATE FUNCTION invoice_dues_of(ids bigint[]) RETURNS TABLE (invoice_id bigint, due_date date, due numeric)
LANGUAGE sql STABLE AS $$
    SELECT i.id, i.due_date,
           i.total_ttc - coalesce(c.amount, 0) - coalesce(p.amount, 0) - coalesce(a.amount, 0) - coalesce(e.amount, 0)
               - coalesce(d.amount, 0) + coalesce(r.amount, 0)
    FROM invoices i
    LEFT JOIN (SELECT corrects_invoice_id AS id, sum(total_ttc) AS amount FROM invoices
               WHERE corrects_invoice_id = ANY(ids) AND kind = 'credit_note' AND status = 'issued' GROUP BY 1) c
           ON c.id = i.id
    LEFT JOIN (SELECT x.invoice_id AS id, sum(x.amount) AS amount FROM payments x WHERE x.invoice_id = ANY(ids)
               GROUP BY 1) p ON p.id = i.id
    LEFT JOIN (SELECT x.invoice_id AS id, sum(x.amount) AS amount FROM instalment_allocations x
               WHERE x.invoice_id = ANY(ids) GROUP BY 1) a ON a.id = i.id
    LEFT JOIN (SELECT x.invoice_id AS id, sum(x.amount) AS amount FROM titre_emargements x
               WHERE x.invoice_id = ANY(ids) GROUP BY 1) e ON e.id = i.id
    LEFT JOIN (SELECT x.invoice_id AS id, sum(x.amount) AS amount FROM sepa_export_items x
               WHERE x.invoice_id = ANY(ids) GROUP BY 1) d ON d.id = i.id
    LEFT JOIN (SELECT x.invoice_id AS id, sum(x.amount) AS amount FROM sepa_returns x WHERE x.invoice_id = ANY(ids)
               GROUP BY 1) r ON r.id = i.id
    WHERE i.id = ANY(ids) AND i.kind = 'invoice' AND i.status = 'issued'
$$;
COMMENT ON FUNCTION invoice_dues_of IS 'invoice_dues.due of these invoices only, each table read through its index '
    '(the view aggregates whole tables: right for the aged balance, slow for one subscriber''s page).';
"""

PAYFIP = """
CREATE TABLE payfip_settings (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    numcli      text CHECK (numcli ~ '^[0-9]{6}$'),
    mode        text NOT NULL DEFAULT 'T' CHECK (mode IN ('T', 'X', 'W')),
    service_url text NOT NULL DEFAULT 'https://www.payfip.gouv.fr/tpa/services/securite',
    payment_url text NOT NULL DEFAULT 'https://www.payfip.gouv.fr/tpa/paiementws.web'
);
COMMENT ON TABLE payfip_settings IS 'Online payment of titres through the DGFiP''s PayFiP (numcli: the collectivity''s '
    'PayFiP client number; mode T test, X activation, W production).';
INSERT INTO payfip_settings DEFAULT VALUES;

CREATE TABLE online_payments (
    idop        text PRIMARY KEY,
    invoice_id  bigint NOT NULL REFERENCES invoices (id),
    amount      numeric(14, 2) NOT NULL CHECK (amount > 0),
    email       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL,
    result      text CHECK (result IN ('P', 'V', 'R', 'Z', 'A')),
    checked_at  timestamptz
);
CREATE INDEX online_payments_invoice_idx ON online_payments (invoice_id);
"""
