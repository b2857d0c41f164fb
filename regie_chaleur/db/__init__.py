"""Database layer: connection pool, embedded server, TimescaleDB capabilities, migrations."""
