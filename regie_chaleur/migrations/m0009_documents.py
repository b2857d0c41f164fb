"""Documents and exchanges: stored invoice documents, the networks' published energy mix and CO2 content,
SEPA direct-debit exports, the chart of accounts of the accounting export.

- ``invoice_documents``: the Factur-X PDF (PDF/A-3 with its CII XML embedded) and the XML of every
  issued invoice and credit note, generated once and served ever after; append-only, with the SHA-256
  of each file recorded so any alteration is seen.
- ``network_disclosures``: per network and year, what the invoices print under the EU billing
  information: the energy mix and the CO2 content (as published in the DPE order's annex), with source.
- ``sepa_exports`` / ``sepa_export_items``: each pain.008 file as sent, and the sequence type (FRST,
  RCUR) each mandate had in it, so a file exported again is the same file.
- ``accounting_accounts``: the revenue, VAT and customer accounts of the journal (M4 chart; editable).
"""

from __future__ import annotations

import psycopg

from regie_chaleur.db.capabilities import Capabilities


def apply(cur: psycopg.Cursor, caps: Capabilities) -> None:
    cur.execute("""
        CREATE TABLE invoice_documents (
            invoice_id bigint NOT NULL REFERENCES invoices (id),
            kind       text NOT NULL CHECK (kind IN ('facturx_pdf', 'cii_xml')),
            content    bytea NOT NULL,
            sha256     char(64) NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (invoice_id, kind)
        );
        CREATE TRIGGER invoice_documents_append_only BEFORE UPDATE OR DELETE ON invoice_documents
            FOR EACH ROW EXECUTE FUNCTION append_only();

        CREATE TABLE network_disclosures (
            network            text NOT NULL REFERENCES networks (code),
            year               integer NOT NULL,
            co2_g_per_kwh      numeric(7, 1) NOT NULL CHECK (co2_g_per_kwh >= 0),
            mix                jsonb NOT NULL,
            renewable_share_pct numeric(5, 2) NOT NULL CHECK (renewable_share_pct BETWEEN 0 AND 100),
            source             text NOT NULL CHECK (source <> ''),
            PRIMARY KEY (network, year)
        );
        COMMENT ON COLUMN network_disclosures.mix IS 'share of delivered heat per source [%]';

        CREATE TABLE sepa_exports (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            run_id          bigint NOT NULL REFERENCES bill_runs (id),
            collection_date date NOT NULL,
            message_id      text NOT NULL UNIQUE,
            content         bytea NOT NULL,
            sha256          char(64) NOT NULL,
            payments        integer NOT NULL,
            total           numeric(14, 2) NOT NULL,
            created_by      text NOT NULL,
            created_at      timestamptz NOT NULL DEFAULT now(),
            UNIQUE (run_id, collection_date)
        );
        CREATE TABLE sepa_export_items (
            export_id     bigint NOT NULL REFERENCES sepa_exports (id),
            invoice_id    bigint NOT NULL REFERENCES invoices (id),
            mandate_id    bigint NOT NULL REFERENCES sepa_mandates (id),
            sequence_type text NOT NULL CHECK (sequence_type IN ('FRST', 'RCUR', 'OOFF', 'FNAL')),
            amount        numeric(14, 2) NOT NULL CHECK (amount > 0),
            PRIMARY KEY (export_id, invoice_id)
        );
        CREATE TRIGGER sepa_exports_append_only BEFORE UPDATE OR DELETE ON sepa_exports
            FOR EACH ROW EXECUTE FUNCTION append_only();

        CREATE TABLE accounting_accounts (
            line_kind text PRIMARY KEY,
            account   text NOT NULL CHECK (account ~ '^[0-9]{3,10}[A-Z0-9]*$'),
            label     text NOT NULL
        );
        INSERT INTO accounting_accounts (line_kind, account, label) VALUES
            ('customer', '411', 'Redevables (abonnés)'),
            ('R1', '70611', 'Vente de chaleur - énergie (R1)'),
            ('regularisation', '70611', 'Vente de chaleur - énergie (R1)'),
            ('R21', '70621', 'Abonnement - électricité (R21)'),
            ('R22', '70622', 'Abonnement - conduite et entretien (R22)'),
            ('R23', '70623', 'Abonnement - gros entretien et renouvellement (R23)'),
            ('R24', '70624', 'Abonnement - financement (R24)'),
            ('reduction', '7097', 'Rabais, remises et ristournes accordés (réduction sociale)'),
            ('vat:5.50', '445715', 'TVA collectée 5,5 %'),
            ('vat:20.00', '445720', 'TVA collectée 20 %');
    """)
