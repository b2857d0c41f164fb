"""Forecasting: outdoor temperature observations and forecasts, issued load forecasts and their values."""

from __future__ import annotations

import psycopg

from regie_chaleur.db.capabilities import Capabilities


def apply(cur: psycopg.Cursor, caps: Capabilities) -> None:
    cur.execute("""
        CREATE TABLE weather_observations (
            time        timestamptz NOT NULL,
            source      text NOT NULL,
            temperature double precision NOT NULL,
            PRIMARY KEY (source, time)
        );
        COMMENT ON TABLE weather_observations IS 'Hourly outdoor temperature [°C] imported from a file or a station.';
        CREATE TABLE load_forecasts (
            id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            issued_at     timestamptz NOT NULL,
            scope         text NOT NULL DEFAULT 'network',
            weather_source text NOT NULL,
            model         jsonb NOT NULL,
            UNIQUE (scope, issued_at)
        );
        CREATE TABLE load_forecast_values (
            forecast_id bigint NOT NULL REFERENCES load_forecasts (id) ON DELETE CASCADE,
            target      timestamptz NOT NULL,
            horizon_h   integer NOT NULL,
            p10_mw      double precision NOT NULL,
            p50_mw      double precision NOT NULL,
            p90_mw      double precision NOT NULL,
            temperature double precision NOT NULL,
            PRIMARY KEY (forecast_id, target)
        );
        CREATE INDEX load_forecast_values_target_idx ON load_forecast_values (target);
    """)
