"""The one settings object: environment variables prefixed ``REGIE_`` and an optional TOML file.

Precedence, highest first: explicit arguments, environment, the config file named by
``REGIE_CONFIG_FILE`` (or ``--config``), defaults. Outside the ``demo`` and ``development`` modes the
application refuses to start on the embedded database or with a default database password
(:meth:`Settings.check_secrets`). Nothing is signed with a key: sessions, CSRF and API tokens are random
values (the database keeps only their SHA-256), so ``REGIE_SECRET_KEY`` is accepted but unused.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from regie_chaleur.errors import SettingsError

Mode = Literal["production", "development", "demo"]
#: passwords a database URL must not carry in production
DEFAULT_PASSWORDS = frozenset({"", "postgres", "password", "changeme", "change-me", "secret"})
TimescaleMode = Literal["auto", "require", "off"]



def default_data_dir() -> Path:
    """The per-user data directory (embedded database, collector buffers, stored documents)."""
    return platformdirs.user_data_path("regie-chaleur", appauthor=False)


class Settings(BaseSettings):
    """Effective configuration of one process."""

    model_config = SettingsConfigDict(env_prefix="REGIE_", extra="forbid", validate_default=True)

    mode: Mode = Field("production", description="production, development or demo")
    database_url: SecretStr | None = Field(
        None, description="PostgreSQL URL; empty: start the embedded server in data_dir"
    )
    timescaledb: TimescaleMode = Field(
        "auto", description="auto: use the extension when present; require: fail without it; off: plain tables"
    )
    secret_key: SecretStr = Field(SecretStr(""), description="unused: nothing is signed (sessions and tokens are "
                                  "random, stored as digests); accepted so that older configurations start")
    data_dir: Path = Field(default_factory=default_data_dir, description="local state directory")
    http_host: str = Field("127.0.0.1", description="address the web server listens on")
    http_port: int = Field(8000, ge=1, le=65535, description="port the web server listens on")
    http_workers: int = Field(1, ge=1, le=64, description="web server worker processes (needs REGIE_DATABASE_URL)")
    http_threads: int = Field(
        1, ge=1, le=64, description="requests handled at once by one worker process (its threads share Python's "
        "GIL: under load, more threads starve each other; add worker processes instead)")
    trusted_proxies: str = Field("127.0.0.1", description="addresses (comma-separated) of the reverse proxies "
                                 "whose X-Forwarded-For and X-Forwarded-Proto are believed; from anyone else "
                                 "they are ignored")
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024,
                                description="largest request body accepted [bytes]; above: 413")
    pool_min_size: int = Field(1, ge=0, description="database pool: connections kept open")
    pool_max_size: int = Field(10, ge=1, description="database pool: connections at most")
    log_level: str = Field("INFO", description="logging level")
    collector_timeout_s: float = Field(2.0, gt=0, description="Modbus request timeout [s]")
    collector_retries: int = Field(1, ge=0, le=10, description="extra attempts of a failed read")
    collector_backoff_initial_s: float = Field(1.0, gt=0, description="reconnect backoff, first wait [s]")
    collector_backoff_max_s: float = Field(60.0, gt=0, description="reconnect backoff ceiling [s]")
    collector_buffer_max_samples: int = Field(20_000_000, ge=1000, description="store-and-forward bound [values]")
    collector_metrics_port: int | None = Field(None, ge=1, le=65535, description="Prometheus /metrics port")
    profiles_dir: Path | None = Field(None, description="extra device profiles (*.yaml)")
    notify_webhook_url: str | None = Field(None, description="alarm webhook (JSON POST)")
    notify_min_severity: Literal["info", "warning", "critical"] = Field("warning", description="alarms notified")
    oncall_sms_webhook_url: str | None = Field(
        None, description="SMS gateway: the person on call is paged by a JSON POST {to, text} here")
    oncall_escalate_after_min: float = Field(
        15.0, gt=0, le=24 * 60, description="a critical alarm not acknowledged this long [min] pages the next rank")
    smtp_host: str | None = Field(None, description="SMTP server for alarm e-mails and letters to subscribers")
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_from: str = Field("regie-chaleur@localhost")
    smtp_to: str = Field("", description="comma-separated recipients of alarm e-mails")
    smtp_user: str | None = Field(None)
    smtp_password: SecretStr = Field(SecretStr(""))
    smtp_starttls: bool = Field(False)
    weather_forecast_url: str | None = Field(None, description="Open-Meteo-format forecast service base URL")
    weather_forecast_file: Path | None = Field(None, description="CSV of forecast temperatures (time,temperature_c)")
    weather_latitude: float = Field(48.8156, ge=-90, le=90, description="where the weather is forecast [°]")
    weather_longitude: float = Field(2.3849, ge=-180, le=180, description="[°] (default: Ivry-sur-Seine)")
    school_holidays_file: Path | None = Field(
        None, description="school holiday periods CSV (start,end[,description]) for the load forecast")
    weather_forecast_error_k: float = Field(
        1.5, ge=0, description="standard deviation of the weather forecast's temperature error [K]; widens P10-P90")
    forecast_every_h: float = Field(6.0, gt=0, description="the scheduler issues a network forecast this often [h]")
    auto_migrate: bool = Field(
        False, description="apply pending migrations at start-up (always on in demo/development)"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("REGIE_CONFIG_FILE")
        if config_file:
            path = Path(config_file)
            if not path.is_file():
                raise SettingsError(f"REGIE_CONFIG_FILE: no such file: {path}")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @property
    def lenient(self) -> bool:
        """True in demo and development modes, where defaults are accepted."""
        return self.mode in ("demo", "development")

    def notifier(self) -> Any:
        """The alarm notifier these settings describe (webhook and/or e-mail)."""
        from regie_chaleur.operations.notify import Notifier

        return Notifier(webhook_url=self.notify_webhook_url, smtp_host=self.smtp_host, smtp_port=self.smtp_port,
                        smtp_from=self.smtp_from, smtp_to=[a.strip() for a in self.smtp_to.split(",") if a.strip()],
                        smtp_user=self.smtp_user, smtp_password=self.smtp_password.get_secret_value() or None,
                        smtp_starttls=self.smtp_starttls, min_severity=self.notify_min_severity,
                        sms_webhook_url=self.oncall_sms_webhook_url)

    def mailer(self) -> Any:
        """The SMTP mailer for letters to subscribers, or None when no SMTP server is set."""
        from regie_chaleur.services.mail import SmtpMailer

        if not self.smtp_host:
            return None
        return SmtpMailer(self.smtp_host, self.smtp_port, self.smtp_from, self.smtp_user,
                          self.smtp_password.get_secret_value() or None, self.smtp_starttls)

    def field_jobs(self) -> dict[str, Any]:
        """The field jobs' pager (the notifier: e-mail and SMS to the person on call), the mailer of
        outage notices and the escalation delay, for the scheduler."""
        from datetime import timedelta

        from regie_chaleur.services.field import notifier_pager

        return {"pager": notifier_pager(self.notifier()), "mailer": self.mailer(),
                "escalate_after": timedelta(minutes=self.oncall_escalate_after_min)}

    def weather_provider(self) -> Any:
        """The configured weather forecast provider, or None."""
        from regie_chaleur.services.weather import FileProvider, OpenMeteoProvider

        if self.weather_forecast_file is not None:
            return FileProvider(self.weather_forecast_file, error_k=self.weather_forecast_error_k)
        if self.weather_forecast_url:
            return OpenMeteoProvider(self.weather_forecast_url, self.weather_latitude, self.weather_longitude,
                                     error_k=self.weather_forecast_error_k)
        return None

    def school_holidays(self) -> frozenset[date]:
        """The school-holiday days of ``school_holidays_file`` (none without one).

        Raises:
            RegieError: the file cannot be read or has a bad row (named by line).
        """
        from regie_chaleur.services.backtest import read_school_holidays

        return read_school_holidays(self.school_holidays_file)

    def check_secrets(self) -> None:
        """Refuse the embedded database or a default database password outside demo/development; name
        the setting.

        Raises:
            SettingsError: naming the environment variable to set.
        """
        if self.lenient:
            return
        if self.database_url is None:
            raise SettingsError(
                "REGIE_DATABASE_URL is empty: the embedded database is for demo/development only; "
                "set the URL of the production PostgreSQL/TimescaleDB server"
            )
        password = _url_password(self.database_url.get_secret_value())
        if password is not None and password in DEFAULT_PASSWORDS:
            raise SettingsError("REGIE_DATABASE_URL carries a default password; set a real one")

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain values, secrets masked (for `config show`)."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "database_url":
                out[name] = mask_url(value.get_secret_value()) if value is not None else "(embedded server)"
            elif isinstance(value, SecretStr):
                out[name] = "**********" if value.get_secret_value() else "(empty)"
            elif isinstance(value, Path):
                out[name] = str(value)
            else:
                out[name] = value
        return out


def _url_password(url: str) -> str | None:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).password
    except ValueError:
        return None


def mask_url(url: str) -> str:
    """Hide the password of a database URL: ``postgresql://u:****@h/db``."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":****@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from the environment, the optional file and ``overrides``.

    Raises:
        SettingsError: the file is missing or a value is invalid (the message names the field).
    """
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"REGIE_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from exc
