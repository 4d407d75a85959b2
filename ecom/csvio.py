"""Reading an uploaded CSV file: the checks every CSV upload makes before its rows mean anything.

Plugins never import each other's modules, so the catalog import (products) and the stock import
(inventory) each had their own copy of this; the core holds it once. What a row means, which header a
file needs and how lines are numbered stay with each plugin. A whole-file problem is a ValidationFailed
naming the field ``file``, as a form field error (the upload's field is called ``file`` in both)."""
from __future__ import annotations

from .errors import ValidationFailed
from .i18n import _, number


def file_error(message: str) -> ValidationFailed:
    """The file as a whole is refused (``message`` already in the reader's language)."""
    return ValidationFailed(message, errors={"file": message})


def decode(data: bytes, max_bytes: int) -> str:
    """The upload as text: at most ``max_bytes``, UTF-8 (a spreadsheet's byte order mark dropped), no NUL
    bytes (a binary file renamed .csv would otherwise come back as many lines of nonsense)."""
    if len(data) > max_bytes:
        raise file_error(_("The file is larger than {size} KiB; split it.").format(size=number(max_bytes // 1024)))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise file_error(_("The file is not UTF-8 text.")) from None
    if "\x00" in text:
        raise file_error(_("The file is not a text CSV file (it contains NUL bytes)."))
    return text


def unreadable(line: int, reason: Exception) -> ValidationFailed:
    """The csv module gave up on line ``line`` (an unclosed quote, a field too large...)."""
    return file_error(_("Line {line} cannot be read as CSV: {reason}.").format(line=line, reason=reason))
