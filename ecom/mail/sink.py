"""The embedded SMTP sink: accepts every mail on loopback and keeps it in a Maildir (<data_dir>/mail).

Why: a new shop has no mail server, yet its owner must see the mails it sends (verification links,
order confirmations). The sink is the default ``[mail] url = ""`` target; ``/admin/mail`` reads the
Maildir. It relays nothing anywhere: a mail that reaches it goes no further.
"""
from __future__ import annotations

import asyncio
import logging
import mailbox
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger("ecom.mail.sink")
MAX_MESSAGE_BYTES = 10 * 1024 * 1024


class MaildirHandler:
    """aiosmtpd handler: each accepted message becomes one file of the Maildir (atomic tmp -> new)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        for path in (self.folder, *(self.folder / sub for sub in ("tmp", "new", "cur"))):
            path.mkdir(mode=0o700, exist_ok=True)
            path.chmod(0o700)  # mails hold single-use links: the shop's account alone reads them
        self.maildir = mailbox.Maildir(str(self.folder), create=True)
        self.received = 0

    def _keep(self, data: bytes) -> None:
        key = self.maildir.add(data)
        (self.folder / "new" / key).chmod(0o600)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        data = envelope.original_content or b""
        await asyncio.to_thread(self._keep, data)
        self.received += 1
        return "250 Message accepted for delivery"


class SmtpSink:
    """The sink on ``host:port`` inside the running loop (tests start it directly; run.py via SinkProcess)."""

    def __init__(self, host: str, port: int, folder: Path):
        self.host, self.port = host, port
        self.handler = MaildirHandler(folder)
        self._server: asyncio.AbstractServer | None = None

    @property
    def folder(self) -> Path:
        return self.handler.folder

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self.handler, hostname="localhost", ident="ecom mail sink",
                         data_size_limit=MAX_MESSAGE_BYTES),
            self.host, self.port, reuse_address=True)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
