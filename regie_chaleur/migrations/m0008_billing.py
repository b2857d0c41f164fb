"""Billing: subscribers, contracts, tariffs and indexation, VAT, readings, bill runs, invoices, numbering.

What the database itself guarantees (not only the application):
- an issued invoice, its lines and VAT totals are never updated nor deleted (triggers), whoever asks;
- a contract's month is billed at most once (``billed_months``: unique while not released by a full
  credit note);
- numbers are gapless: a counter row per series, updated in the issuing transaction;
- an index value or a tariff used by an issued invoice never changes (``locked``);
- the billing audit trail is append-only.
"""

from __future__ import annotations

import psycopg

from regie_chaleur.db.capabilities import Capabilities

TERMS_CHECK = "('R1', 'R21', 'R22', 'R23', 'R24')"


def apply(cur: psycopg.Cursor, caps: Capabilities) -> None:
    cur.execute(TABLES)
    cur.execute(TRIGGERS)
    cur.execute(DEFAULTS)


TABLES = f"""
CREATE TABLE billing_issuer (
    id                  boolean PRIMARY KEY DEFAULT true CHECK (id),
    name                text NOT NULL,
    legal_form          text NOT NULL,
    siren               char(9) NOT NULL,
    siret               char(14) NOT NULL,
    vat_number          text NOT NULL,
    address_line1       text NOT NULL,
    address_line2       text,
    postcode            text NOT NULL,
    city                text NOT NULL,
    country             char(2) NOT NULL DEFAULT 'FR',
    email               text NOT NULL,
    phone               text,
    website             text,
    iban                text NOT NULL,
    bic                 text NOT NULL,
    sepa_creditor_id    text NOT NULL,
    payment_terms_days  integer NOT NULL DEFAULT 30 CHECK (payment_terms_days BETWEEN 0 AND 60),
    late_payment_text   text NOT NULL,
    recourse_text       text NOT NULL,
    complaints_text     text NOT NULL,
    accountant          text NOT NULL
);
COMMENT ON TABLE billing_issuer IS 'The régie as seller and ordonnateur: one row, shown on every document.';

CREATE TABLE billing_policy (
    id                   boolean PRIMARY KEY DEFAULT true CHECK (id),
    r2_proration         text NOT NULL DEFAULT 'monthly_twelfth'
                         CHECK (r2_proration IN ('monthly_twelfth', 'days_in_year')),
    unit_price_places    integer NOT NULL DEFAULT 4 CHECK (unit_price_places BETWEEN 2 AND 6),
    implausible_factor   numeric(6, 3) NOT NULL DEFAULT 1.5 CHECK (implausible_factor > 0),
    reading_window_hours integer NOT NULL DEFAULT 24 CHECK (reading_window_hours BETWEEN 1 AND 168)
);
COMMENT ON TABLE billing_policy IS 'Choices of the network''s règlement de service (no national rule fixes them).';

CREATE TABLE tariff_categories (
    code  text PRIMARY KEY CHECK (code ~ '^[a-z0-9_]+$'),
    label text NOT NULL
);

CREATE TABLE subscribers (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code               text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9_.-]+$'),
    name               text NOT NULL CHECK (name <> ''),
    siren              char(9),
    siret              char(14),
    vat_number         text,
    address_line1      text NOT NULL,
    address_line2      text,
    postcode           text NOT NULL,
    city               text NOT NULL,
    country            char(2) NOT NULL DEFAULT 'FR',
    email              text,
    phone              text,
    public_entity      boolean NOT NULL DEFAULT false,
    chorus_service_code text,
    chorus_engagement  text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (siret IS NULL OR siren IS NOT NULL AND left(siret, 9) = siren),
    CHECK (NOT public_entity OR siret IS NOT NULL)
);

CREATE TABLE sepa_mandates (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscriber_id      bigint NOT NULL REFERENCES subscribers (id),
    reference          text NOT NULL UNIQUE,
    signed_on          date NOT NULL,
    iban               text NOT NULL,
    bic                text NOT NULL,
    status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    first_collected_on date,
    created_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE contracts (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number            text NOT NULL UNIQUE CHECK (number ~ '^[A-Za-z0-9_.-]+$'),
    subscriber_id     bigint NOT NULL REFERENCES subscribers (id),
    delivery_point_id bigint NOT NULL REFERENCES delivery_points (id),
    category          text NOT NULL REFERENCES tariff_categories (code),
    start_date        date NOT NULL,
    end_date          date CHECK (end_date >= start_date),
    frequency         text NOT NULL DEFAULT 'monthly' CHECK (frequency IN ('monthly', 'quarterly', 'yearly')),
    payment_method    text NOT NULL DEFAULT 'transfer' CHECK (payment_method IN ('sepa', 'transfer')),
    mandate_id        bigint REFERENCES sepa_mandates (id),
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (payment_method <> 'sepa' OR mandate_id IS NOT NULL)
);
CREATE UNIQUE INDEX contracts_one_open_per_delivery_point ON contracts (delivery_point_id) WHERE end_date IS NULL;
CREATE INDEX contracts_subscriber_idx ON contracts (subscriber_id);

CREATE TABLE contract_powers (
    contract_id bigint NOT NULL REFERENCES contracts (id) ON DELETE CASCADE,
    valid_from  date NOT NULL,
    power_kw    numeric(10, 1) NOT NULL CHECK (power_kw > 0),
    reason      text NOT NULL DEFAULT '',
    PRIMARY KEY (contract_id, valid_from)
);

CREATE TABLE tariffs (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    category         text NOT NULL REFERENCES tariff_categories (code),
    valid_from       date NOT NULL CHECK (extract(day FROM valid_from) = 1),
    valid_to         date CHECK (valid_to > valid_from AND extract(day FROM valid_to) = 1),
    r1_eur_mwh       numeric(12, 4) NOT NULL CHECK (r1_eur_mwh >= 0),
    r21_eur_kw_year  numeric(12, 4) NOT NULL CHECK (r21_eur_kw_year >= 0),
    r22_eur_kw_year  numeric(12, 4) NOT NULL CHECK (r22_eur_kw_year >= 0),
    r23_eur_kw_year  numeric(12, 4) NOT NULL CHECK (r23_eur_kw_year >= 0),
    r24_eur_kw_year  numeric(12, 4) NOT NULL CHECK (r24_eur_kw_year >= 0),
    deliberation     text NOT NULL CHECK (deliberation <> ''),
    deliberation_date date,
    locked           boolean NOT NULL DEFAULT false,
    UNIQUE (category, valid_from)
);

CREATE TABLE category_reductions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    category     text NOT NULL REFERENCES tariff_categories (code),
    valid_from   date NOT NULL,
    valid_to     date CHECK (valid_to > valid_from),
    percent      numeric(6, 3) NOT NULL CHECK (percent > 0 AND percent <= 100),
    applies_to   text NOT NULL CHECK (applies_to IN ('R1', 'R2', 'R1R2')),
    deliberation text NOT NULL CHECK (deliberation <> ''),
    label        text NOT NULL DEFAULT 'Réduction sociale'
);

CREATE TABLE index_series (
    code   text PRIMARY KEY CHECK (code ~ '^[A-Za-z0-9_.-]+$'),
    name   text NOT NULL,
    source text NOT NULL DEFAULT ''
);
CREATE TABLE index_values (
    series       text NOT NULL REFERENCES index_series (code),
    month        date NOT NULL CHECK (extract(day FROM month) = 1),
    value        numeric(14, 4) NOT NULL CHECK (value > 0),
    published_on date NOT NULL,
    locked       boolean NOT NULL DEFAULT false,
    PRIMARY KEY (series, month)
);
CREATE TABLE indexation_formulas (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    term         text NOT NULL CHECK (term IN {TERMS_CHECK}),
    category     text REFERENCES tariff_categories (code),
    valid_from   date NOT NULL,
    valid_to     date CHECK (valid_to > valid_from),
    fixed_part   numeric(8, 6) NOT NULL CHECK (fixed_part >= 0 AND fixed_part <= 1),
    lag_months   integer NOT NULL DEFAULT 0 CHECK (lag_months BETWEEN 0 AND 24),
    deliberation text NOT NULL DEFAULT '',
    UNIQUE NULLS NOT DISTINCT (term, category, valid_from)
);
CREATE TABLE indexation_components (
    formula_id bigint NOT NULL REFERENCES indexation_formulas (id) ON DELETE CASCADE,
    series     text NOT NULL REFERENCES index_series (code),
    weight     numeric(8, 6) NOT NULL CHECK (weight > 0),
    base_value numeric(14, 4) NOT NULL CHECK (base_value > 0),
    PRIMARY KEY (formula_id, series)
);

CREATE TABLE vat_periods (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    network             text NOT NULL REFERENCES networks (code),
    valid_from          date NOT NULL,
    valid_to            date CHECK (valid_to > valid_from),
    renewable_share_pct numeric(5, 2) NOT NULL CHECK (renewable_share_pct BETWEEN 0 AND 100),
    rate_r1_pct         numeric(5, 2) NOT NULL CHECK (rate_r1_pct >= 0),
    rate_r2_pct         numeric(5, 2) NOT NULL CHECK (rate_r2_pct >= 0),
    justification       text NOT NULL CHECK (justification <> ''),
    UNIQUE (network, valid_from)
);

CREATE TABLE meter_readings (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    meter_id   bigint NOT NULL REFERENCES meters (id),
    at         timestamptz NOT NULL,
    index_kwh  numeric(16, 3) NOT NULL CHECK (index_kwh >= 0),
    kind       text NOT NULL CHECK (kind IN ('actual', 'manual', 'subscriber')),
    source     text NOT NULL,
    sampled_at timestamptz,
    entered_by text,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (meter_id, at, kind)
);
CREATE TABLE meter_changes (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_point_id bigint NOT NULL REFERENCES delivery_points (id),
    at                timestamptz NOT NULL,
    old_meter_id      bigint NOT NULL REFERENCES meters (id),
    old_final_kwh     numeric(16, 3) NOT NULL CHECK (old_final_kwh >= 0),
    new_meter_id      bigint NOT NULL REFERENCES meters (id),
    new_initial_kwh   numeric(16, 3) NOT NULL CHECK (new_initial_kwh >= 0),
    by_whom           text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (old_meter_id <> new_meter_id)
);

CREATE TABLE bill_runs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    month        date NOT NULL CHECK (extract(day FROM month) = 1),
    status       text NOT NULL CHECK (status IN ('simulated', 'issued')),
    run_date     date NOT NULL,
    created_by   text NOT NULL,
    simulated_at timestamptz NOT NULL,
    issued_at    timestamptz,
    issued_by    text,
    contracts    integer NOT NULL DEFAULT 0,
    invoices     integer NOT NULL DEFAULT 0,
    exceptions   integer NOT NULL DEFAULT 0,
    total_ht     numeric(14, 2) NOT NULL DEFAULT 0,
    total_ttc    numeric(14, 2) NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX bill_runs_one_open_per_month ON bill_runs (month) WHERE status = 'simulated';

CREATE TABLE bill_run_exceptions (
    run_id      bigint NOT NULL REFERENCES bill_runs (id) ON DELETE CASCADE,
    contract_id bigint NOT NULL REFERENCES contracts (id),
    code        text NOT NULL,
    blocking    boolean NOT NULL,
    message     text NOT NULL
);
CREATE INDEX bill_run_exceptions_run_idx ON bill_run_exceptions (run_id);

CREATE TABLE invoice_counters (
    series     text PRIMARY KEY,
    next_value bigint NOT NULL DEFAULT 1 CHECK (next_value >= 1)
);

CREATE TABLE invoices (
    id                  bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,  -- ids reserved for bulk COPY
    kind                text NOT NULL CHECK (kind IN ('invoice', 'credit_note')),
    status              text NOT NULL CHECK (status IN ('draft', 'issued')),
    number              text UNIQUE,
    run_id              bigint REFERENCES bill_runs (id),
    contract_id         bigint NOT NULL REFERENCES contracts (id),
    subscriber_id       bigint NOT NULL REFERENCES subscribers (id),
    period_start        date NOT NULL,
    period_end          date NOT NULL CHECK (period_end > period_start),
    issue_date          date,
    due_date            date,
    issued_at           timestamptz,
    issued_by           text,
    total_ht            numeric(14, 2) NOT NULL,
    total_vat           numeric(14, 2) NOT NULL,
    total_ttc           numeric(14, 2) NOT NULL,
    corrects_invoice_id bigint REFERENCES invoices (id),
    reason              text,
    seller              jsonb NOT NULL,
    buyer               jsonb NOT NULL,
    payment             jsonb NOT NULL,
    readings            jsonb NOT NULL,
    warnings            jsonb NOT NULL DEFAULT '[]',
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'issued') = (number IS NOT NULL)),
    CHECK ((status = 'issued') = (issue_date IS NOT NULL AND due_date IS NOT NULL AND issued_at IS NOT NULL)),
    CHECK ((kind = 'credit_note') = (corrects_invoice_id IS NOT NULL)),
    CHECK (total_ttc = total_ht + total_vat)
);
CREATE INDEX invoices_run_idx ON invoices (run_id);
CREATE INDEX invoices_contract_idx ON invoices (contract_id, period_start);
CREATE INDEX invoices_subscriber_idx ON invoices (subscriber_id);

CREATE TABLE invoice_lines (
    invoice_id    bigint NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    line_no       integer NOT NULL CHECK (line_no >= 1),
    kind          text NOT NULL CHECK (kind IN ('R1', 'R21', 'R22', 'R23', 'R24', 'reduction', 'regularisation')),
    label         text NOT NULL,
    quantity      numeric(16, 3) NOT NULL,
    unit          text NOT NULL,
    unit_price    numeric(16, 6) NOT NULL,
    prorata       numeric(24, 20) NOT NULL,
    prorata_label text NOT NULL DEFAULT '',
    amount_ht     numeric(14, 2) NOT NULL,
    vat_rate      numeric(5, 2) NOT NULL,
    period_start  date NOT NULL,
    period_end    date NOT NULL,
    details       jsonb NOT NULL DEFAULT '{{}}',
    PRIMARY KEY (invoice_id, line_no)
);
CREATE TABLE invoice_vat (
    invoice_id bigint NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    rate       numeric(5, 2) NOT NULL,
    base       numeric(14, 2) NOT NULL,
    vat        numeric(14, 2) NOT NULL,
    PRIMARY KEY (invoice_id, rate)
);

CREATE TABLE billed_months (
    contract_id bigint NOT NULL REFERENCES contracts (id),
    month       date NOT NULL CHECK (extract(day FROM month) = 1),
    invoice_id  bigint NOT NULL REFERENCES invoices (id),
    released_by bigint REFERENCES invoices (id)
);
CREATE UNIQUE INDEX billed_months_once ON billed_months (contract_id, month) WHERE released_by IS NULL;
CREATE INDEX billed_months_invoice_idx ON billed_months (invoice_id);

CREATE TABLE billing_audit (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    action      text NOT NULL,
    object_type text NOT NULL,
    object_id   bigint,
    details     jsonb NOT NULL DEFAULT '{{}}'
);
CREATE INDEX billing_audit_object_idx ON billing_audit (object_type, object_id);
"""

TRIGGERS = """
CREATE FUNCTION invoices_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'issued' THEN
        RAISE EXCEPTION 'la facture % est émise : elle ne peut être ni modifiée ni supprimée (émettre un avoir)',
            OLD.number USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER invoices_immutable BEFORE UPDATE OR DELETE ON invoices
    FOR EACH ROW EXECUTE FUNCTION invoices_immutable();

CREATE FUNCTION invoice_parts_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    target bigint := CASE WHEN TG_OP = 'INSERT' THEN NEW.invoice_id ELSE OLD.invoice_id END;
    state text;
BEGIN
    SELECT status INTO state FROM invoices WHERE id = target;
    IF state = 'issued' THEN
        RAISE EXCEPTION 'la facture % est émise : ses lignes et totaux ne changent plus', target
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER invoice_lines_immutable BEFORE INSERT OR UPDATE OR DELETE ON invoice_lines
    FOR EACH ROW EXECUTE FUNCTION invoice_parts_immutable();
CREATE TRIGGER invoice_vat_immutable BEFORE INSERT OR UPDATE OR DELETE ON invoice_vat
    FOR EACH ROW EXECUTE FUNCTION invoice_parts_immutable();

CREATE FUNCTION locked_row_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.locked AND (TG_OP = 'DELETE' OR NEW IS DISTINCT FROM OLD) THEN
        RAISE EXCEPTION '% : cette valeur a servi à une facture émise et ne peut plus changer', TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER index_values_locked BEFORE UPDATE OR DELETE ON index_values
    FOR EACH ROW EXECUTE FUNCTION locked_row_immutable();
CREATE TRIGGER tariffs_locked BEFORE UPDATE OR DELETE ON tariffs
    FOR EACH ROW EXECUTE FUNCTION locked_row_immutable();

CREATE FUNCTION append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% : journal en ajout seul', TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
END $$;
CREATE TRIGGER billing_audit_append_only BEFORE UPDATE OR DELETE ON billing_audit
    FOR EACH ROW EXECUTE FUNCTION append_only();

CREATE FUNCTION billed_months_release_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR OLD.released_by IS NOT NULL OR NEW.released_by IS NULL
       OR (NEW.contract_id, NEW.month, NEW.invoice_id)
          IS DISTINCT FROM (OLD.contract_id, OLD.month, OLD.invoice_id) THEN
        RAISE EXCEPTION 'billed_months : un mois facturé n''est libéré que par un avoir total'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER billed_months_release_only BEFORE UPDATE OR DELETE ON billed_months
    FOR EACH ROW EXECUTE FUNCTION billed_months_release_only();
"""

DEFAULTS = """
INSERT INTO billing_policy DEFAULT VALUES;
INSERT INTO tariff_categories (code, label) VALUES
    ('logement_social', 'Logement social'),
    ('copropriete', 'Copropriété'),
    ('equipement_public', 'Équipement public'),
    ('tertiaire', 'Tertiaire');
"""
