"""The billing commands, run as billing staff would: imports with their errors, a run from telemetry
(simulate, review, issue), a credit note; plus the boundary readings taken from telemetry."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg

from regie_chaleur.db.database import Database
from regie_chaleur.services.billing import refresh_boundary_readings
from tests.billing.support import contract, remote, setup_billing, siren, siret, subscriber
from tests.test_cli import run

BAD_TARIFFS = """category,valid_from,valid_to,r1_eur_mwh,r21_eur_kw_year,r22_eur_kw_year,r23_eur_kw_year,\
r24_eur_kw_year,deliberation,deliberation_date
copropriete,2027-01-01,,63.10,5.9,21.8,10.0,14.4,CA-2026-30,2026-11-20
villa,2027-01-01,,63.10,5.9,21.8,10.0,14.4,CA-2026-30,2026-11-20
tertiaire,2027-01-15,,-1,5.9,21.8,10.0,14.4,,2026-11-20
"""


def sample(conn: psycopg.Connection, device: str, at: datetime, energy_kwh: float, quality: int = 0) -> None:
    device_id = conn.execute("SELECT id FROM devices WHERE code = %s", (device,)).fetchone()
    assert device_id is not None
    conn.execute("INSERT INTO substation_samples (time, device_id, energy, energy_q) VALUES (%s, %s, %s, %s)",
                 (at, device_id[0], energy_kwh, quality))


def test_boundary_readings_come_from_telemetry(db: Database) -> None:
    with db.pool.connection() as conn:
        setup_billing(conn, points=3)
        conn.execute("INSERT INTO subscribers (code, name, address_line1, postcode, city) "
                     "VALUES ('A', 'A', 'x', '94200', 'Ivry')")
        for i in (1, 2, 3):
            conn.execute("INSERT INTO contracts (number, subscriber_id, delivery_point_id, category, start_date) "
                         "SELECT %s, s.id, dp.id, 'copropriete', '2025-01-01' FROM subscribers s, delivery_points dp "
                         "WHERE dp.code = %s", (f"POL-{i}", f"PDL-{i:04d}"))
        oct1 = datetime(2026, 9, 30, 22, tzinfo=UTC)  # 1 October 00:00 Paris
        nov1 = datetime(2026, 10, 31, 23, tzinfo=UTC)  # 1 November 00:00 Paris (winter time)
        sample(conn, "DEV-0001", oct1 - timedelta(seconds=40), 1000.0)
        sample(conn, "DEV-0001", oct1 + timedelta(seconds=20), 1000.4)  # after the boundary: not it
        sample(conn, "DEV-0001", nov1 - timedelta(minutes=5), 9000.25)
        sample(conn, "DEV-0002", oct1 - timedelta(minutes=1), 5.0, quality=3)  # counter backwards: never used
        sample(conn, "DEV-0002", oct1 - timedelta(minutes=2), 4000.0)
        sample(conn, "DEV-0003", oct1 - timedelta(hours=30), 777.0)  # older than the 24 h window
        assert refresh_boundary_readings(conn, datetime(2026, 10, 1).date()) == 3
        rows = conn.execute("SELECT m.code, r.at, r.index_kwh, r.sampled_at FROM meter_readings r "
                            "JOIN meters m ON m.id = r.meter_id ORDER BY m.code, r.at").fetchall()
    assert [(r[0], r[1], float(r[2])) for r in rows] == [("MTR-0001", oct1, 1000.0), ("MTR-0001", nov1, 9000.25),
                                                       ("MTR-0002", oct1, 4000.0)]
    assert rows[0][3] == oct1 - timedelta(seconds=40)


def test_billing_commands(db: Database, tmp_path: Path) -> None:
    with db.pool.connection() as conn:
        setup_billing(conn, points=2)
        for i, device in ((1, "DEV-0001"), (2, "DEV-0002")):
            sample(conn, device, datetime(2026, 9, 30, 21, 59, tzinfo=UTC), 100_000.0 * i)
            sample(conn, device, datetime(2026, 10, 31, 22, 59, tzinfo=UTC), 100_000.0 * i + 12_345)
    env = {"REGIE_MODE": "development", "REGIE_DATABASE_URL": db.url}
    bad = tmp_path / "tarifs-2027.csv"
    bad.write_text(BAD_TARIFFS, encoding="utf-8")
    out = run("bill", "import-tariffs", str(bad), env=env)
    assert out.returncode == 2
    assert "4 erreur(s), rien n'a été enregistré" in out.stderr
    assert "ligne 3 : category : catégorie villa inconnue" in out.stderr
    assert "ligne 4 : valid_from : doit être le premier jour d'un mois" in out.stderr
    assert "ligne 4 : r1_eur_mwh : -1 : au moins 0" in out.stderr  # every problem of a line
    assert "ligne 4 : deliberation : obligatoire" in out.stderr
    s1, s2 = siren(40_000_001), siren(40_000_002)
    subs = tmp_path / "abonnes.csv"
    subs.write_text("code,name,siren,siret,address_line1,postcode,city,public_entity\n"
                    f"OPH-IVRY,OPH d'Ivry-sur-Seine,{s1},{siret(s1)},1 rue Marat,94200,Ivry-sur-Seine,non\n"
                    f"ECOLE-JC,Groupe scolaire Joliot-Curie,{s2},{siret(s2)},12 rue Marat,94200,Ivry-sur-Seine,oui\n",
                    encoding="utf-8")
    assert run("bill", "import-subscribers", str(subs), env=env).returncode == 0
    contracts = tmp_path / "contrats.csv"
    contracts.write_text("number,subscriber,delivery_point,category,start_date,power_kw\n"
                         "POL-0001,OPH-IVRY,PDL-0001,logement_social,2025-01-01,250\n"
                         "POL-0002,ECOLE-JC,PDL-0002,equipement_public,2025-01-01,180\n", encoding="utf-8")
    out = run("bill", "import-contracts", str(contracts), env=env)
    assert out.returncode == 0, out.stderr
    assert "2 ajouté(s)" in out.stdout
    again = run("bill", "import-contracts", str(contracts), env=env)
    assert "0 ajouté(s), 2 inchangé(s)" in again.stdout

    sim = run("bill", "run", "--period", "2026-10", "--simulate", "--as", "c.durand", env=env)
    assert sim.returncode == 0, sim.stderr
    assert "octobre 2026" in sim.stdout and "factures : 2" in sim.stdout
    assert "bill issue 1" in sim.stdout
    declined = run("bill", "issue", "1", "--as", "c.durand", env=env)  # nothing typed: no
    assert declined.returncode == 1 and "2 facture(s) à émettre" in declined.stdout
    assert "rien n'a été émis" in declined.stdout
    issued = run("bill", "issue", "1", "--as", "c.durand", env=env, answer="o\n")
    assert "2 facture(s) émise(s), de FAC-2026-000001 à FAC-2026-000002" in issued.stdout, issued.stderr
    assert "rien à émettre" in run("bill", "issue", "1", env=env).stdout
    assert "0 document(s)" in run("bill", "documents", "1", env=env).stdout  # generated at issue already
    sepa = run("bill", "export-sepa", "1", "--collection-date", "2099-01-05", env=env)
    assert sepa.returncode == 2 and "aucune facture à prélever" in sepa.stderr  # both pay by transfer
    accounting = run("bill", "export-accounting", "1", "-o", str(tmp_path / "compta"), env=env)
    assert accounting.returncode == 0, accounting.stderr
    assert "2 écriture(s), débit" in accounting.stdout
    assert (tmp_path / "compta" / "journal-1.csv").read_text(encoding="utf-8").startswith("JournalCode;")
    assert len((tmp_path / "compta" / "titres-1.csv").read_text(encoding="utf-8").splitlines()) == 3
    assert "Tout est déjà facturé pour octobre 2026 : tournée n° 1 émise le" in run(
        "bill", "run", "--period", "2026-10", env=env).stdout
    shown = run("bill", "show", "1", env=env)
    assert "issued" in shown.stdout
    credit = run("bill", "credit", "FAC-2026-000001", "--reason", "geste", "--line", "1=10,00", env=env)
    assert credit.returncode == 0, credit.stderr
    assert "avoir partiel AVO-2026-000001 : 10,55\xa0€ TTC" in credit.stdout
    unknown = run("bill", "credit", "FAC-2026-999999", "--reason", "x", env=env)
    assert unknown.returncode == 2 and "facture FAC-2026-999999 inconnue" in unknown.stderr
    with psycopg.connect(db.url) as conn:
        audit = conn.execute("SELECT actor, action, object_type FROM billing_audit WHERE actor = 'c.durand' "
                             "ORDER BY id").fetchall()
    assert ("c.durand", "simulated", "bill_run") in audit and ("c.durand", "issued", "bill_run") in audit
    assert sum(1 for a in audit if a[1:] == ("issued", "invoice")) == 2


def test_record_commands_and_guarded_runs(db: Database) -> None:
    with db.pool.connection() as conn:
        setup_billing(conn, points=2)
        subscriber(conn, "ABO-1", 1)
        contract(conn, "POL-0001", "ABO-1", "PDL-0001", date(2025, 1, 1))
        remote(conn, "MTR-0001", date(2026, 10, 1), "500000")
    env = {"REGIE_MODE": "development", "REGIE_DATABASE_URL": db.url}
    future = run("bill", "run", "--period", "2099-03", "--simulate", env=env)
    assert future.returncode == 2 and "Mars 2099 est à venir : sa tournée pourra être lancée à partir du 01/04/2099" \
        in future.stderr
    lower = run("bill", "reading", "MTR-0001", "--date", "2026-11-01", "--index", "499000", "--as", "agent", env=env)
    assert lower.returncode == 2 and "inférieur au précédent" in lower.stderr and "--confirm" in lower.stderr
    manual = run("bill", "reading", "MTR-0001", "--date", "2026-11-01", "--index", "514 413", "--as", "agent",
                 env=env)
    assert manual.returncode == 0, manual.stderr
    assert "index 514\u202f413 kWh au 01/11/2026 enregistré" in manual.stdout
    replaced = run("bill", "meter-replace", "PDL-0001", "--at", "2026-11-16T10:00+01:00", "--old-index", "520000",
                   "--new-meter", "MTR-NEUF", "--new-index", "0", "--as", "agent", env=env)
    assert replaced.returncode == 0, replaced.stderr
    naive = run("bill", "meter-replace", "PDL-0002", "--at", "2026-11-16T10:00", "--old-index", "1",
                "--new-meter", "MTR-X", "--new-index", "0", env=env)
    assert naive.returncode == 2 and "fuseau" in naive.stderr
    sim = run("bill", "run", "--period", "2026-10", "--simulate", env=env)
    assert sim.returncode == 0, sim.stderr
    discarded = run("bill", "discard", "1", env=env)
    assert discarded.returncode == 0 and "tournée 1 abandonnée" in discarded.stdout
    closed = run("bill", "tariff-close", "copropriete", "2025-01-01", "--to", "2027-01-01", env=env)
    assert closed.returncode == 0, closed.stderr
    with psycopg.connect(db.url) as conn:
        assert conn.execute("SELECT count(*) FROM bill_runs").fetchone() == (0,)
        assert conn.execute("SELECT kind, entered_by FROM meter_readings WHERE kind <> 'actual'").fetchall() == [
            ("manual", "agent")]
        assert conn.execute("SELECT valid_to FROM tariffs WHERE category = 'copropriete'").fetchone() == (
            date(2027, 1, 1),)
