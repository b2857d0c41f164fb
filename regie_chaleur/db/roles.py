"""The application's database role, with only the privileges the services need.

Migrations run as the tables' owner (``regie-chaleur db migrate``). The services (web, collectors,
scheduler) connect as another role, granted by ``regie-chaleur db app-role NAME`` run as the owner
after each migration:

- read and write the data (SELECT, INSERT, UPDATE, DELETE), use the sequences and functions;
- append only where history must stay: the audit logs, the issued documents; read only the schema's
  migration list;
- never TRUNCATE, TRIGGER or REFERENCES, nor own anything: it cannot switch off the triggers that keep
  issued invoices immutable, nor drop or alter a table. The retention job goes through
  ``regie_drop_chunks`` (SECURITY DEFINER, migration m0016), refreshing TimescaleDB's continuous
  aggregates is left to their policies (a manual refresh needs the owner).
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from regie_chaleur.errors import RegieError

APPEND_ONLY = ("audit_log", "billing_audit", "invoice_documents", "login_attempts", "pes_files", "pes_retours",
               "bank_statements", "sepa_return_files")
READ_ONLY = ("schema_migrations",)


def grant_app_role(conn: psycopg.Connection, role: str, password: str | None = None) -> bool:
    """Create ``role`` (LOGIN) if needed, set its password when given, and grant it the application's
    privileges on every table there is now; returns whether it was created.

    Raises:
        RegieError: the role is a superuser, or owns objects of the schema (it would keep every right).
    """
    ident = sql.Identifier(role)
    found = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    if found is not None and found[0]:
        raise RegieError(f"the role {role} is a superuser: the application role must not be one")
    owned = conn.execute("SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
                         "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE r.rolname = %s "
                         "AND n.nspname = 'public'", (role,)).fetchone()
    if owned is not None and owned[0]:
        raise RegieError(f"the role {role} owns {owned[0]} object(s) of the schema: use another role than the owner")
    if found is None:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE").format(ident))
    if password:
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(ident, sql.Literal(password)))
    database = sql.Identifier(conn.info.dbname)
    statements = [
        sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(database, ident),
        sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident),
        sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(ident),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(ident),
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(ident),
        sql.SQL("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {}").format(ident),
    ]
    tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    statements += [sql.SQL("REVOKE UPDATE, DELETE ON {} FROM {}").format(sql.Identifier(t), ident)
                   for t in APPEND_ONLY if t in tables]
    statements += [sql.SQL("REVOKE INSERT, UPDATE, DELETE ON {} FROM {}").format(sql.Identifier(t), ident)
                   for t in READ_ONLY if t in tables]
    with conn.transaction():
        for statement in statements:
            conn.execute(statement)
    return found is None
