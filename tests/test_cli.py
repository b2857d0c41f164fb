"""The console script, run as a subprocess like an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg


def run(*args: str, env: dict[str, str] | None = None, answer: str = "") -> subprocess.CompletedProcess[str]:
    """The command line with ``args``; ``answer`` is what is typed at its prompts."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("REGIE_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "regie_chaleur.cli", *args], capture_output=True, text=True,
                          env=full_env, timeout=120, check=False, input=answer)


def test_config_show_masks_secrets() -> None:
    out = run("config", "show", env={"REGIE_MODE": "development", "REGIE_SECRET_KEY": "topsecret",
                                      "REGIE_DATABASE_URL": "postgresql://u:pw123@localhost/x"})
    assert out.returncode == 0, out.stderr
    assert "topsecret" not in out.stdout
    assert "pw123" not in out.stdout
    assert '"database_url": "postgresql://u:****@localhost/x"' in out.stdout


def test_serve_refuses_a_default_database_password_in_production() -> None:
    out = run("serve", env={"REGIE_DATABASE_URL": "postgresql://u:postgres@127.0.0.1:1/x"})
    assert out.returncode == 2
    assert "REGIE_DATABASE_URL carries a default password" in out.stderr


def test_db_migrate_status_and_network_import(db_url: str, data_dir: Path) -> None:
    env = {"REGIE_MODE": "development", "REGIE_DATABASE_URL": db_url}
    migrate = run("db", "migrate", env=env)
    assert migrate.returncode == 0, migrate.stderr
    assert "m0002_registry" in migrate.stdout
    again = run("db", "migrate", env=env)
    assert "schema is current" in again.stdout
    status = run("db", "status", env=env)
    assert "0 pending" in status.stdout

    bad = run("network", "import", str(data_dir / "network-bad.yaml"), env=env)
    assert bad.returncode == 2
    assert "5 error(s), nothing imported" in bad.stderr
    for line in (9, 12, 17, 23, 28):
        assert f"network-bad.yaml:line {line}:" in bad.stderr
    good = run("network", "import", str(data_dir / "network-good.yaml"), env=env)
    assert "13 created, 0 updated, 0 unchanged" in good.stdout
    twice = run("network", "import", str(data_dir / "network-good.yaml"), env=env)
    assert "0 created, 0 updated, 13 unchanged" in twice.stdout
    exported = run("network", "export", "--format", "csv", env=env)
    assert exported.stdout.startswith("type,code,name")
    assert "PDL-0002" in exported.stdout
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM delivery_points").fetchone() == (2,)


def test_unreachable_database_is_a_clear_error() -> None:
    out = run("db", "status", env={"REGIE_MODE": "development",
                                   "REGIE_DATABASE_URL": "postgresql://u@127.0.0.1:1/x?connect_timeout=2"})
    assert out.returncode == 2
    assert "cannot connect to the database" in out.stderr


def test_retention_plan_and_forecast_commands(db_url: str, tmp_path: Path) -> None:
    env = {"REGIE_MODE": "development", "REGIE_DATABASE_URL": db_url}
    assert run("db", "migrate", env=env).returncode == 0
    retention = run("db", "retention", "substation_samples", "400", env=env)
    assert retention.returncode == 0, retention.stderr
    assert "raw rows kept 400 days" in retention.stdout
    with psycopg.connect(db_url) as conn:
        keep = conn.execute("SELECT keep FROM retention_policies WHERE table_name = 'substation_samples'").fetchone()
    assert keep is not None
    assert keep[0].days == 400
    plan = run("plan", env=env)
    assert plan.returncode == 2
    assert "no network forecast to plan from" in plan.stderr
    weather = tmp_path / "w.csv"
    weather.write_text("time,temperature_c\n2026-01-01T00:00:00+00:00,3\n")
    forecast = run("forecast", "run", "--weather-file", str(weather), env=env)
    assert forecast.returncode == 2
    assert "forecast" in forecast.stderr
    bad_plants = tmp_path / "plants.yaml"
    bad_plants.write_text("plants:\n  - {name: X, kind: coal, capacity_mw: 3}\n")
    assert "no network forecast" in run("plan", "--plants", str(bad_plants), env=env).stderr
