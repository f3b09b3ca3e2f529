"""E-mail behind an interface: :class:`Mailer`. The composition root picks :class:`SmtpMailer` when an SMTP
host is configured, :class:`RecordingMailer` otherwise (the demo and the tests that need no real server),
so nothing is ever sent by accident.

What goes into a message is the caller's business, with one rule for every caller: no health data (no
resident's name, no reason, nothing from a record), since e-mail leaves the certified host in clear text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib

from teleconsult.settings import Settings

log = logging.getLogger("teleconsult.mail")


class Mailer(Protocol):
    async def send(self, to: str, subject: str, body: str) -> None:
        """Send one plain-text message; raises :class:`MailError` when it could not be handed over."""
        ...


class MailError(Exception):
    """The message could not be handed to the SMTP server (refused, unreachable, timed out)."""


@dataclass(frozen=True, slots=True)
class SentMail:
    to: str
    subject: str
    body: str


class RecordingMailer:
    """Keeps the messages in memory instead of sending them (demo, tests). Logs only that one was kept:
    neither the address nor the text, which the log has no need of."""

    def __init__(self) -> None:
        self.sent: list[SentMail] = []

    async def send(self, to: str, subject: str, body: str) -> None:
        self.sent.append(SentMail(to, subject, body))
        log.info("e-mail kept, not sent (no SMTP host configured)", extra={"kept": len(self.sent)})


class SmtpMailer:
    """Sends through an SMTP server with aiosmtplib: STARTTLS and login when configured, and a timeout on
    every network wait."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        starttls: bool = True,
        username: str = "",
        password: str = "",
        timeout_seconds: float = 10.0,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._starttls = starttls
        self._username = username
        self._password = password
        self._timeout = timeout_seconds

    async def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        try:
            await aiosmtplib.send(
                message,
                hostname=self._host,
                port=self._port,
                start_tls=self._starttls,
                username=self._username or None,
                password=self._password or None,
                timeout=self._timeout,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise MailError(f"SMTP {self._host}:{self._port}: {exc.__class__.__name__}") from exc


def build_mailer(settings: Settings) -> Mailer:
    if not settings.sends_mail:
        return RecordingMailer()
    return SmtpMailer(
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_from,
        starttls=settings.smtp_starttls,
        username=settings.smtp_username,
        password=settings.smtp_password,
        timeout_seconds=settings.smtp_timeout_seconds,
    )
