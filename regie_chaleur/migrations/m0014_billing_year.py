"""Billing through a real year: tariff versions and VAT periods that succeed one another, VAT rates as
dated data, corrected readings with who, when, why, a billing policy per network, contracts covering
several delivery points.

- A tariff used by an issued invoice stays locked, but it may be *ended*: its ``valid_to`` set (or moved
  earlier) provided no issued invoice billed it for a day from that date on; anything else is refused.
- ``vat_rates``: the reduced and the normal rate with their validity (CGI art. 278-0 bis B, art. 278).
- ``meter_readings``: a ``correction`` kind (an agent's correction of a wrong index, which wins over
  every other reading of the same instant), ``reason``, and the time it was actually read.
- ``network_billing_policies``: a network's own choices where it departs from ``billing_policy``.
- ``contract_delivery_points``: the other delivery points of a contract (energies summed, one
  subscribed power); ``contracts.delivery_point_id`` stays its main point.
"""

from __future__ import annotations

import psycopg

from regie_chaleur.db.capabilities import Capabilities


def apply(cur: psycopg.Cursor, caps: Capabilities) -> None:
    cur.execute("""
        DROP TRIGGER tariffs_locked ON tariffs;
        CREATE FUNCTION tariff_succession_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            used text;
        BEGIN
            IF NOT OLD.locked THEN
                RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
            END IF;
            IF TG_OP = 'DELETE' OR (NEW.category, NEW.valid_from, NEW.r1_eur_mwh, NEW.r21_eur_kw_year,
                    NEW.r22_eur_kw_year, NEW.r23_eur_kw_year, NEW.r24_eur_kw_year, NEW.deliberation, NEW.locked)
                    IS DISTINCT FROM (OLD.category, OLD.valid_from, OLD.r1_eur_mwh, OLD.r21_eur_kw_year,
                    OLD.r22_eur_kw_year, OLD.r23_eur_kw_year, OLD.r24_eur_kw_year, OLD.deliberation, OLD.locked)
                    OR NEW.valid_to IS NULL THEN
                RAISE EXCEPTION 'tariffs : le tarif % du % a servi à une facture émise ; il ne peut qu''être clos',
                    OLD.category, to_char(OLD.valid_from, 'DD/MM/YYYY')
                    USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            SELECT i.number INTO used FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id
             WHERE i.status = 'issued' AND (l.details ->> 'tariff_id')::bigint = OLD.id AND l.period_end > NEW.valid_to
             ORDER BY l.period_end DESC LIMIT 1;
            IF used IS NOT NULL THEN
                RAISE EXCEPTION 'tariffs : le tarif % du % ne peut finir le % : la facture % l''applique au-delà',
                    OLD.category, to_char(OLD.valid_from, 'DD/MM/YYYY'), to_char(NEW.valid_to, 'DD/MM/YYYY'), used
                    USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER tariffs_succession_guard BEFORE UPDATE OR DELETE ON tariffs
            FOR EACH ROW EXECUTE FUNCTION tariff_succession_guard();

        CREATE TABLE vat_rates (
            kind       text NOT NULL CHECK (kind IN ('reduced', 'normal')),
            valid_from date NOT NULL,
            valid_to   date CHECK (valid_to > valid_from),
            rate_pct   numeric(5, 2) NOT NULL CHECK (rate_pct >= 0 AND rate_pct < 100),
            reference  text NOT NULL CHECK (reference <> ''),
            PRIMARY KEY (kind, valid_from)
        );
        INSERT INTO vat_rates (kind, valid_from, rate_pct, reference) VALUES
            ('reduced', '2014-01-01', 5.5, 'CGI art. 278-0 bis B (réseaux de chaleur), taux réduit de 5,5 %'),
            ('normal', '2014-01-01', 20, 'CGI art. 278, taux normal de 20 % (loi 2012-1510, art. 68)');

        ALTER TABLE meter_readings DROP CONSTRAINT meter_readings_kind_check;
        ALTER TABLE meter_readings ADD CONSTRAINT meter_readings_kind_check
            CHECK (kind IN ('actual', 'manual', 'subscriber', 'correction'));
        ALTER TABLE meter_readings ADD COLUMN reason text;
        ALTER TABLE meter_readings ADD COLUMN read_at timestamptz;
        COMMENT ON COLUMN meter_readings.at IS
          'the boundary the index stands for (local midnight, Europe/Paris); read_at: when it was actually read';

        CREATE TABLE network_billing_policies (
            network              text PRIMARY KEY REFERENCES networks (code),
            r2_proration         text NOT NULL CHECK (r2_proration IN ('monthly_twelfth', 'days_in_year')),
            unit_price_places    integer NOT NULL CHECK (unit_price_places BETWEEN 2 AND 6),
            implausible_factor   numeric(6, 3) NOT NULL CHECK (implausible_factor > 0),
            reading_window_hours integer NOT NULL CHECK (reading_window_hours BETWEEN 1 AND 168),
            estimation           text NOT NULL DEFAULT 'degree_days'
                                 CHECK (estimation IN ('degree_days', 'recent_average')),
            updated_by           text NOT NULL,
            updated_at           timestamptz NOT NULL DEFAULT now()
        );
        ALTER TABLE billing_policy ADD COLUMN estimation text NOT NULL DEFAULT 'degree_days'
            CHECK (estimation IN ('degree_days', 'recent_average'));

        CREATE TABLE contract_delivery_points (
            contract_id       bigint NOT NULL REFERENCES contracts (id) ON DELETE CASCADE,
            delivery_point_id bigint NOT NULL REFERENCES delivery_points (id),
            PRIMARY KEY (contract_id, delivery_point_id)
        );
        CREATE INDEX contract_delivery_points_point_idx ON contract_delivery_points (delivery_point_id);
    """)
