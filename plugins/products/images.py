"""Product images: the type comes from the file's magic bytes (never its name or declared type).

Files live in ``<data_dir>/plugins/products/media`` as ``<product id>-<sha256[:16]>.<ext>``: the name
changes with the content, so browsers and nginx may cache them forever.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from ecom.errors import DomainError, ValidationFailed
from ecom.i18n import N_, _, number

CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}
FILE_NAME = re.compile(r"[0-9]{1,19}-[0-9a-f]{16}\.(png|jpg|webp|gif)")
URL_PREFIX = "/media/products/"


class ImageTooLarge(DomainError):
    status = 413
    title = N_("Request too large")


class ImageMissing(ValidationFailed):
    def __init__(self):
        super().__init__(_("Choose an image file to upload."), errors={"image": _("Choose an image file.")})


def sniff(data: bytes) -> str | None:
    """The extension for PNG, JPEG, WebP or GIF data, else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


def too_large(max_bytes: int) -> ImageTooLarge:
    limit = (_("{size} MiB").format(size=number(max_bytes / 1048576, 1)) if max_bytes >= 1048576
             else _("{size} KiB").format(size=number(max_bytes // 1024)))
    message = _("The image is larger than {limit}; upload a smaller one.").format(limit=limit)
    return ImageTooLarge(message, errors={"image": message})


def check(data: bytes, max_bytes: int) -> str:
    """The extension of a valid image; ImageTooLarge (413) or ValidationFailed (422) otherwise."""
    if len(data) > max_bytes:
        raise too_large(max_bytes)
    if not data:
        raise ValidationFailed(_("The image is empty."), errors={"image": _("The file is empty.")})
    ext = sniff(data)
    if ext is None:
        message = _("Upload a PNG, JPEG, WebP or GIF image.")
        raise ValidationFailed(message, errors={"image": message})
    return ext


def file_name(product_id: int, data: bytes, ext: str) -> str:
    return f"{product_id}-{hashlib.sha256(data).hexdigest()[:16]}.{ext}"


def url(name: str | None) -> str | None:
    return URL_PREFIX + name if name else None


def write(folder: Path, name: str, data: bytes) -> None:
    """Atomically (temp file + rename), world-readable so that nginx's worker user can serve it."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    tmp.write_bytes(data)
    tmp.chmod(0o644)
    os.replace(tmp, folder / name)


def remove(folder: Path, name: str | None) -> None:
    if name and FILE_NAME.fullmatch(name):
        (folder / name).unlink(missing_ok=True)


def path_of(folder: Path, name: str) -> Path | None:
    """The stored file for a URL's name, or None (bad name, traversal attempt, missing file)."""
    if not FILE_NAME.fullmatch(name):
        return None
    path = folder / name
    return path if path.is_file() else None
