"""Send one mail by SMTP (aiosmtplib) to where ``[mail] url`` says.

- ``""``: the embedded sink on ``embedded_host:embedded_port``, plain SMTP on loopback.
- ``smtp://user:pass@host:587``: STARTTLS is required (a server without it is an error, never plain text).
- ``smtps://user:pass@host:465``: TLS from the first byte.
The credentials come from the URL (percent-decoded) and are never logged: ``SmtpTarget``'s repr and
``describe()`` leave them out, and send errors carry only the server's reply.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib

from ..config import MailConfig


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    use_tls: bool = False
    start_tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        """Where mails go, safe for a log line (no user, no password)."""
        mode = "TLS" if self.use_tls else "STARTTLS" if self.start_tls else "plain"
        return f"{self.host}:{self.port} ({mode})"


def target(mail: MailConfig) -> SmtpTarget:
    if not mail.url:
        return SmtpTarget(mail.embedded_host, mail.embedded_port)
    parts = urlsplit(mail.url)
    tls = parts.scheme == "smtps"
    return SmtpTarget(parts.hostname or "localhost", parts.port or (465 if tls else 587), use_tls=tls,
                      start_tls=not tls, username=unquote(parts.username) if parts.username else None,
                      password=unquote(parts.password) if parts.password else None)


class SendError(Exception):
    """One attempt failed; ``str()`` is safe to store and log (error class and the server's reply)."""


async def send(to: SmtpTarget, message: EmailMessage, timeout: float) -> None:
    try:
        await aiosmtplib.send(message, hostname=to.host, port=to.port, use_tls=to.use_tls,
                              start_tls=to.start_tls, username=to.username, password=to.password,
                              timeout=timeout)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as err:
        reason = getattr(err, "message", None) or getattr(err, "strerror", None) or str(err)
        raise SendError(f"{type(err).__name__}: {str(reason)[:300]}") from None
