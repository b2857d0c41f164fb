"""Production plans: what was planned from which forecast, hourly per plant and for the storage."""

from __future__ import annotations

import psycopg

from regie_chaleur.db.capabilities import Capabilities


def apply(cur: psycopg.Cursor, caps: Capabilities) -> None:
    cur.execute("""
        CREATE TABLE production_plans (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            created_at      timestamptz NOT NULL DEFAULT now(),
            forecast_id     bigint REFERENCES load_forecasts (id),
            start_at        timestamptz NOT NULL,
            hours           integer NOT NULL,
            status          text NOT NULL,
            gap             double precision,
            cost_eur        numeric(14, 2) NOT NULL,
            co2_t           double precision NOT NULL,
            renewable_share double precision NOT NULL,
            solve_s         double precision NOT NULL,
            system          jsonb NOT NULL
        );
        CREATE TABLE plan_production (
            plan_id       bigint NOT NULL REFERENCES production_plans (id) ON DELETE CASCADE,
            target        timestamptz NOT NULL,
            plant         text NOT NULL,
            production_mw double precision NOT NULL,
            is_on         boolean NOT NULL,
            started       boolean NOT NULL,
            PRIMARY KEY (plan_id, plant, target)
        );
        CREATE TABLE plan_hours (
            plan_id        bigint NOT NULL REFERENCES production_plans (id) ON DELETE CASCADE,
            target         timestamptz NOT NULL,
            demand_mw      double precision NOT NULL,
            charge_mw      double precision NOT NULL,
            discharge_mw   double precision NOT NULL,
            storage_mwh    double precision NOT NULL,
            unserved_mw    double precision NOT NULL,
            dump_mw        double precision NOT NULL,
            marginal_cost  double precision,
            PRIMARY KEY (plan_id, target)
        );
    """)
