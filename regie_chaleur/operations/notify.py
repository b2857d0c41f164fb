"""Notifying the on-call operator of new alarms: an HTTP webhook (JSON) and e-mail (SMTP).

A notifier failure is logged and counted; it never stops the alarm pass.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import httpx

log = logging.getLogger(__name__)
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass
class Notifier:
    """Sends alarms at or above ``min_severity`` to a webhook and/or by e-mail."""

    webhook_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "regie-chaleur@localhost"
    smtp_to: list[str] = field(default_factory=list)
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    min_severity: str = "warning"
    timeout_s: float = 5.0  # [s] per delivery
    failures: int = 0

    def __call__(self, alarms: list[dict[str, Any]]) -> None:
        selected = [a for a in alarms if SEVERITY_RANK[a["severity"]] >= SEVERITY_RANK[self.min_severity]]
        if not selected:
            return
        if self.webhook_url:
            self._webhook(selected)
        if self.smtp_host and self.smtp_to:
            self._email(selected)

    def _webhook(self, alarms: list[dict[str, Any]]) -> None:
        try:
            response = httpx.post(self.webhook_url or "", json={"alarms": alarms}, timeout=self.timeout_s)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            self.failures += 1
            log.error("alarm webhook %s failed: %s", self.webhook_url, exc)

    def _email(self, alarms: list[dict[str, Any]]) -> None:
        message = EmailMessage()
        worst = max(alarms, key=lambda a: SEVERITY_RANK[a["severity"]])
        message["Subject"] = f"[régie chaleur] {len(alarms)} nouvelle(s) alarme(s) — {worst['message']}"
        message["From"] = self.smtp_from
        message["To"] = ", ".join(self.smtp_to)
        lines = [f"- [{a['severity']}] {a['message']} (sous-station {a.get('substation') or '?'}"
                 + (f", équipement {a['device']}" if a.get("device") else "") + f", {a['raised_at']})"
                 for a in alarms]
        message.set_content("Nouvelles alarmes sur le réseau de chaleur :\n\n" + "\n".join(lines) + "\n")
        try:
            with smtplib.SMTP(self.smtp_host or "", self.smtp_port, timeout=self.timeout_s) as smtp:
                if self.smtp_starttls:
                    smtp.starttls()
                if self.smtp_user and self.smtp_password:
                    smtp.login(self.smtp_user, self.smtp_password)
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            self.failures += 1
            log.error("alarm e-mail via %s:%s failed: %s", self.smtp_host, self.smtp_port, exc)
