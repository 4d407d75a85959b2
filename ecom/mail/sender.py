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


_ERRORS = (aiosmtplib.SMTPException, OSError, TimeoutError)


def _error(err: BaseException) -> SendError:
    reason = getattr(err, "message", None) or getattr(err, "strerror", None) or str(err)
    return SendError(f"{type(err).__name__}: {str(reason)[:300]}")


async def send(to: SmtpTarget, message: EmailMessage, timeout: float) -> None:
    """One mail on a connection of its own."""
    async with Session(to, timeout) as session:
        await session.send(message)


class Session:
    """Several mails over one SMTP connection, opened at the first send and closed (QUIT) on exit.

    A connection per mail cost a TCP connect, the greeting, EHLO (and STARTTLS and AUTH on a real
    server) and QUIT for every mail; a batch of mails now pays them once. A failed send raises
    SendError for that mail only and drops the connection (its state is unknown), so the next mail
    starts on a new one."""

    def __init__(self, to: SmtpTarget, timeout: float):
        self.to, self.timeout = to, timeout
        self._client: aiosmtplib.SMTP | None = None

    async def __aenter__(self) -> "Session":
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        client, self._client = self._client, None
        if client is not None and exc_type is not None and not issubclass(exc_type, Exception):
            client.close()  # cancelled (shutdown): a QUIT to a server that stopped answering waits [mail] timeout
        elif client is not None:
            try:
                await client.quit()
            except _ERRORS:  # every mail sent was already accepted: a rude goodbye loses nothing
                client.close()

    async def send(self, message: EmailMessage) -> None:
        """Send one mail; returns once the server accepted it (250 after DATA), else SendError."""
        try:
            if self._client is None:
                client = aiosmtplib.SMTP(hostname=self.to.host, port=self.to.port, use_tls=self.to.use_tls,
                                         start_tls=self.to.start_tls, username=self.to.username,
                                         password=self.to.password, timeout=self.timeout)
                await client.connect()
                self._client = client
            await self._client.send_message(message)
        except _ERRORS as err:
            client, self._client = self._client, None
            if client is not None:
                client.close()
            raise _error(err) from None
