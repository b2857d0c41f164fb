"""Settings: REGIE_ environment, TOML file, masking, refusal of default secrets outside demo."""

from __future__ import annotations

from pathlib import Path

import pytest

from regie_chaleur.errors import SettingsError
from regie_chaleur.settings import load_settings, mask_url


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REGIE_MODE", "REGIE_DATABASE_URL", "REGIE_SECRET_KEY", "REGIE_CONFIG_FILE", "REGIE_HTTP_PORT"):
        monkeypatch.delenv(name, raising=False)


def test_environment_and_file_with_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "regie.toml"
    config.write_text('mode = "development"\nhttp_port = 9000\nlog_level = "DEBUG"\n')
    monkeypatch.setenv("REGIE_CONFIG_FILE", str(config))
    monkeypatch.setenv("REGIE_HTTP_PORT", "9100")
    settings = load_settings()
    assert (settings.mode, settings.http_port, settings.log_level) == ("development", 9100, "DEBUG")


def test_missing_config_file_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGIE_CONFIG_FILE", "/nonexistent/regie.toml")
    with pytest.raises(SettingsError, match=r"REGIE_CONFIG_FILE: no such file: /nonexistent/regie\.toml"):
        load_settings()


def test_invalid_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGIE_HTTP_PORT", "99999")
    with pytest.raises(SettingsError, match="REGIE_HTTP_PORT"):
        load_settings()


def test_production_needs_no_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # nothing is signed: sessions and tokens are random, stored as digests (README, Security)
    monkeypatch.setenv("REGIE_DATABASE_URL", "postgresql://regie:s3cret-Pw@db/regie")
    load_settings().check_secrets()
    monkeypatch.setenv("REGIE_SECRET_KEY", "an older configuration still starts")
    load_settings().check_secrets()


def test_production_refuses_embedded_database_and_default_password(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="REGIE_DATABASE_URL is empty"):
        load_settings().check_secrets()
    monkeypatch.setenv("REGIE_DATABASE_URL", "postgresql://regie:postgres@db/regie")
    with pytest.raises(SettingsError, match="default password"):
        load_settings().check_secrets()
    monkeypatch.setenv("REGIE_DATABASE_URL", "postgresql://regie:Long-Random-1@db/regie")
    load_settings().check_secrets()


def test_demo_accepts_defaults() -> None:
    settings = load_settings(mode="demo")
    settings.check_secrets()


def test_masked_hides_secrets() -> None:
    settings = load_settings(mode="development", database_url="postgresql://u:hunter2@h/db", secret_key="abc")
    shown = settings.masked()
    assert shown["database_url"] == "postgresql://u:****@h/db"
    assert shown["secret_key"] == "**********"
    assert "hunter2" not in repr(shown)
    assert mask_url("postgresql://u@h/db") == "postgresql://u@h/db"
