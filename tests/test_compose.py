"""docker-compose.yml: valid against the Compose specification, every file, variable and command exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from regie_chaleur.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"


def test_compose_validates_against_the_specification() -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    out = subprocess.run([str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_variable_is_documented_in_env_example() -> None:
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", COMPOSE.read_text()))
    documented = {line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines()
                  if line and not line.startswith("#")}
    assert used
    assert used <= documented, f"undocumented: {used - documented}"


def test_every_referenced_file_exists_and_commands_are_real() -> None:
    doc = yaml.safe_load(COMPOSE.read_text())
    subcommands = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert (ROOT / "Dockerfile").is_file()
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"
    for name, service in doc["services"].items():
        build = service.get("build")
        if build:
            context = ROOT / (build if isinstance(build, str) else build.get("context", "."))
            assert context.is_dir(), name
        for env_file in service.get("env_file", []):
            assert (ROOT / env_file).is_file(), f"{name}: missing env file {env_file}"
        command = service.get("command")
        if command and service.get("image", "").startswith("regie-chaleur"):
            assert command[0] in subcommands, f"{name}: unknown command {command[0]}"


def test_services_reach_the_database_as_the_application_role_behind_tls() -> None:
    doc = yaml.safe_load(COMPOSE.read_text())
    services = doc["services"]
    for name, service in services.items():
        url = service.get("environment", {}).get("REGIE_DATABASE_URL", "")
        if service.get("image", "").startswith("regie-chaleur") and name != "migrate":
            assert url.startswith("postgresql://regie_app:"), f"{name} connects as {url.split('@')[0]}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).is_file(), f"{name}: missing {source}"
    assert services["migrate"]["command"] == ["db", "migrate", "--app-role", "regie_app"]
    assert "ports" not in services["api"]  # only the proxy is published
    assert services["proxy"]["ports"] == ["80:80", "443:443"]
    caddy = (ROOT / "deploy" / "Caddyfile").read_text()
    assert "reverse_proxy api:8000" in caddy and "Strict-Transport-Security" in caddy
