"""Notifying of new alarms: an HTTP webhook (JSON) and e-mail (SMTP) to fixed recipients; and paging
the person on call (:meth:`Notifier.page`): e-mail to their address, an SMS through the gateway's webhook.

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
    sms_webhook_url: str | None = None

    def __call__(self, alarms: list[dict[str, Any]]) -> None:
        selected = [a for a in alarms if SEVERITY_RANK[a["severity"]] >= SEVERITY_RANK[self.min_severity]]
        if not selected:
            return
        if self.webhook_url:
            self._webhook(selected)
        if self.smtp_host and self.smtp_to:
            self._email(selected)

    def page(self, name: str, email: str | None, phone: str | None, alarms: list[dict[str, Any]]) -> list[str]:
        """Page one person about critical alarms; returns the channels that took the message ("e-mail",
        "SMS"), empty when none did."""
        text = (f"Astreinte régie chaleur : {len(alarms)} alarme(s) critique(s) non acquittée(s). "
                + " ; ".join(f"{a.get('substation') or '?'} : {a['message']}" for a in alarms[:5]))
        done = []
        if phone and self.sms_webhook_url:
            try:
                httpx.post(self.sms_webhook_url, json={"to": phone, "name": name, "text": text[:600],
                                                       "alarms": [a["id"] for a in alarms]},
                           timeout=self.timeout_s).raise_for_status()
                done.append("SMS")
            except httpx.HTTPError as exc:
                self.failures += 1
                log.error("on-call SMS to %s via %s failed: %s", name, self.sms_webhook_url, exc)
        if email and self.smtp_host:
            message = EmailMessage()
            message["Subject"] = f"[astreinte régie chaleur] {alarms[0]['message']}"[:200]
            message["From"] = self.smtp_from
            message["To"] = email
            message.set_content(f"Bonjour {name},\n\n{text}\n\nAcquittez l'alarme dans la console d'exploitation : "
                                "sans acquittement, la personne suivante de l'astreinte est appelée.\n")
            if self._send(message):
                done.append("e-mail")
        return done

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
        self._send(message)

    def _send(self, message: EmailMessage) -> bool:
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
            return False
        return True
