"""What the application role may do without owning the tables: ``regie_drop_chunks``, a SECURITY DEFINER
function that drops a hypertable's old chunks for the retention job, only for a table whose retention
is the project's own job (``retention_policies.kind = 'job'``) and only before that table's retention
cutoff (an hour's leeway for clock skew). ``drop_chunks`` itself needs the table's owner."""

from __future__ import annotations

import psycopg

from regie_chaleur.db.capabilities import Capabilities


def apply(cur: psycopg.Cursor, caps: Capabilities) -> None:
    if not caps.hypertables:
        return
    cur.execute("""
        CREATE FUNCTION regie_drop_chunks(tbl text, older_than timestamptz) RETURNS integer
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        DECLARE
            keep interval;
            dropped integer;
        BEGIN
            SELECT r.keep INTO keep FROM retention_policies r JOIN time_tables t USING (table_name)
             WHERE r.table_name = tbl AND r.kind = 'job' AND t.kind = 'hypertable';
            IF keep IS NULL THEN
                RAISE EXCEPTION 'regie_drop_chunks : % n''a pas de rétention gérée par la régie', tbl
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            IF older_than > now() - keep + interval '1 hour' THEN  -- an hour for the clocks' skew
                RAISE EXCEPTION 'regie_drop_chunks : % se garde % ; pas de suppression après %', tbl, keep,
                    now() - keep USING ERRCODE = 'insufficient_privilege';
            END IF;
            SELECT count(*) INTO dropped FROM drop_chunks(tbl::regclass, older_than => older_than);
            RETURN dropped;
        END $$;
        REVOKE ALL ON FUNCTION regie_drop_chunks(text, timestamptz) FROM PUBLIC;
    """)
