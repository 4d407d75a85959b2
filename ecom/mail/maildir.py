"""Read what the embedded sink received (its Maildir) for /admin/mail: newest first, parsed once."""
from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone
from pathlib import Path

KEY = re.compile(r"^[A-Za-z0-9._-]{1,200}$")  # Maildir keys as mailbox.Maildir makes them


@dataclass(frozen=True)
class ReceivedMail:
    key: str
    subject: str
    sender: str
    to: str
    date: datetime
    text: str
    html: str


def _parse(key: str, raw: bytes, mtime: float) -> ReceivedMail:
    msg: EmailMessage = BytesParser(policy=policy.default).parsebytes(raw)
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    try:
        date = parsedate_to_datetime(msg["Date"]) if msg["Date"] else None
    except (TypeError, ValueError):
        date = None
    return ReceivedMail(key, str(msg["Subject"] or ""), str(msg["From"] or ""), str(msg["To"] or ""),
                        date or datetime.fromtimestamp(mtime, timezone.utc),
                        text.get_content() if text is not None else "",
                        html.get_content() if html is not None else "")


def _files(folder: Path) -> list[tuple[float, str, Path]]:
    found = []
    for sub in ("new", "cur"):
        for path in (folder / sub).glob("*") if (folder / sub).is_dir() else ():
            key = path.name.split(":", 1)[0]
            try:
                found.append((path.stat().st_mtime, key, path))
            except FileNotFoundError:
                continue
    found.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return found


def received(folder: Path, limit: int = 100) -> list[ReceivedMail]:
    """The newest ``limit`` mails (a file that vanished or cannot be read is skipped)."""
    mails = []
    for mtime, key, path in _files(folder)[:limit]:
        try:
            mails.append(_parse(key, path.read_bytes(), mtime))
        except OSError:
            continue
    return mails


def one(folder: Path, key: str) -> ReceivedMail | None:
    if not KEY.match(key):
        return None
    for mtime, found, path in _files(folder):
        if found == key:
            try:
                return _parse(key, path.read_bytes(), mtime)
            except OSError:
                return None
    return None


def count(folder: Path) -> int:
    return len(_files(folder))

