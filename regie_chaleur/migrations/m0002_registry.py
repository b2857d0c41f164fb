"""Network registry: networks, plants, substations, Modbus devices, heat meters, delivery points."""

from __future__ import annotations

import psycopg

from regie_chaleur.db.capabilities import Capabilities

PLANT_KINDS = (
    "recovered_heat", "geothermal", "gas_boiler", "oil_boiler", "biomass_boiler", "chp",
    "heat_pump", "electric_boiler", "solar_thermal", "other",
)


def apply(cur: psycopg.Cursor, caps: Capabilities) -> None:
    kinds = ", ".join(f"'{k}'" for k in PLANT_KINDS)
    cur.execute(
        f"""
        CREATE TABLE networks (
            code text PRIMARY KEY CHECK (code ~ '^[A-Za-z0-9_.-]+$'),
            name text NOT NULL
        );
        CREATE TABLE plants (
            id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            code        text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9_.-]+$'),
            name        text NOT NULL,
            network     text NOT NULL REFERENCES networks (code),
            kind        text NOT NULL CHECK (kind IN ({kinds})),
            capacity_mw numeric(10, 3) NOT NULL CHECK (capacity_mw > 0),
            latitude    double precision CHECK (latitude BETWEEN -90 AND 90),
            longitude   double precision CHECK (longitude BETWEEN -180 AND 180)
        );
        CREATE TABLE substations (
            id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            code      text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9_.-]+$'),
            name      text NOT NULL,
            network   text NOT NULL REFERENCES networks (code),
            address   text,
            latitude  double precision CHECK (latitude BETWEEN -90 AND 90),
            longitude double precision CHECK (longitude BETWEEN -180 AND 180)
        );
        CREATE TABLE devices (
            id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            code          text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9_.-]+$'),
            substation_id bigint REFERENCES substations (id),
            plant_id      bigint REFERENCES plants (id),
            host          text NOT NULL,
            port          integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
            unit_id       integer NOT NULL CHECK (unit_id BETWEEN 0 AND 255),
            profile       text NOT NULL,
            enabled       boolean NOT NULL DEFAULT true,
            CHECK ((substation_id IS NULL) <> (plant_id IS NULL)),
            UNIQUE (host, port, unit_id)
        );
        CREATE INDEX devices_substation_idx ON devices (substation_id);
        CREATE TABLE meters (
            id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            code                  text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9_.-]+$'),
            device_id             bigint REFERENCES devices (id),
            substation_id         bigint REFERENCES substations (id),
            plant_id              bigint REFERENCES plants (id),
            register_capacity_kwh numeric(20, 3) CHECK (register_capacity_kwh > 0),
            CHECK ((substation_id IS NULL) <> (plant_id IS NULL))
        );
        CREATE TABLE delivery_points (
            id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            code          text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9_.-]+$'),
            name          text NOT NULL,
            substation_id bigint NOT NULL REFERENCES substations (id),
            meter_id      bigint UNIQUE REFERENCES meters (id),
            address       text,
            latitude      double precision CHECK (latitude BETWEEN -90 AND 90),
            longitude     double precision CHECK (longitude BETWEEN -180 AND 180)
        );
        """
    )
