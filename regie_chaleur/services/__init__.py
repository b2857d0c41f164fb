"""The wiring of each domain to the database and to each other: a module a domain."""
