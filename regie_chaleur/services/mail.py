"""Wires e-mail to subscribers (reminder letters) to the régie's SMTP server (``REGIE_SMTP_*``)."""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

from billing.correspondence import Mail


@dataclass(frozen=True)
class SmtpMailer:
    """Hands one message with its PDF to the SMTP server; raises OSError when it could not."""

    host: str
    port: int = 25
    sender: str = "regie-chaleur@localhost"
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout_s: float = 10.0  # [s] per message

    def __call__(self, mail: Mail) -> None:
        message = EmailMessage()
        message["Subject"] = mail.subject
        message["From"] = self.sender
        message["To"] = mail.to
        message.set_content(mail.body)
        message.add_attachment(mail.attachment, maintype="application", subtype="pdf",
                               filename=mail.attachment_name)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.user and self.password:
                    smtp.login(self.user, self.password)
                smtp.send_message(message)
        except smtplib.SMTPException as exc:
            raise OSError(f"serveur de messagerie {self.host}:{self.port} : {exc}") from exc
