"""Pictures for the demo catalog, drawn here (no downloads, no imaging library): a few soft circles on a
gradient in the category's colour, as PNG. A handful of variants per category are drawn once per seed
run; each product gets a hard link to one of them under its own file name (``<id>-<sha>.png``, as an
upload would), so replacing or deleting one product's image never touches another's.
"""
from __future__ import annotations

import hashlib
import math
import os
import random
import struct
import zlib
from pathlib import Path

from . import images

WIDTH, HEIGHT = 480, 360
VARIANTS = 4
# the home page's category colours (ecom/static/site.css .cat-N), by the category's place in name order
PALETTE = [(0x3d, 0x7b, 0xd9), (0x8a, 0x5c, 0xd0), (0xd9, 0x74, 0x3d), (0x3f, 0x9d, 0x5a), (0xd9, 0x4f, 0x7a),
           (0x2a, 0xa3, 0xa3), (0xb5, 0x8a, 0x1b), (0xc2, 0x4d, 0x4d), (0x6b, 0x8e, 0x23), (0x55, 0x66, 0xaa)]


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b))


def _png(rows: list[bytearray]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
    raw = b"".join(b"\x00" + bytes(row) for row in rows)  # filter 0 on every row
    header = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def _circle(rows: list[bytearray], cx: float, cy: float, r: float, alpha: float) -> None:
    """Blend a white disc into ``rows``: whole pixels through a lookup table, the rim (anti-aliased by its
    coverage) pixel by pixel."""
    table = bytes(round(v + (255 - v) * alpha) for v in range(256))
    for y in range(max(0, int(cy - r - 1)), min(HEIGHT, int(cy + r + 2))):
        dy = abs(y + 0.5 - cy)
        if dy >= r + 0.5:
            continue
        row = rows[y]
        outer = math.sqrt((r + 0.5) ** 2 - dy * dy)
        inner = math.sqrt((r - 0.5) ** 2 - dy * dy) if dy < r - 0.5 else -1.0
        lo, hi = max(0, math.floor(cx - outer - 0.5)), min(WIDTH - 1, math.ceil(cx + outer - 0.5))
        full_lo, full_hi = (math.ceil(cx - inner - 0.5), math.floor(cx + inner - 0.5)) if inner >= 0 else (hi + 1, hi)
        full_lo, full_hi = max(full_lo, lo), min(full_hi, hi)
        if full_lo <= full_hi:
            row[3 * full_lo:3 * full_hi + 3] = row[3 * full_lo:3 * full_hi + 3].translate(table)
        for x in [*range(lo, min(full_lo, hi + 1)), *range(max(full_hi + 1, lo), hi + 1)]:
            cover = min(1.0, max(0.0, r - math.hypot(x + 0.5 - cx, dy) + 0.5)) * alpha
            if cover > 0:
                i = 3 * x
                row[i:i + 3] = bytes(round(v + (255 - v) * cover) for v in row[i:i + 3])


def draw(base: tuple[int, int, int], seed: int) -> bytes:
    """One picture: a vertical gradient of ``base`` with three soft circles placed by ``seed``."""
    rng = random.Random(seed)
    top, bottom = _mix(base, (255, 255, 255), 0.35), _mix(base, (0, 0, 0), 0.15)
    rows = [bytearray(bytes(_mix(top, bottom, y / (HEIGHT - 1))) * WIDTH) for y in range(HEIGHT)]
    _circle(rows, rng.uniform(0.55, 0.85) * WIDTH, rng.uniform(0.2, 0.5) * HEIGHT, 0.42 * HEIGHT, 0.16)
    _circle(rows, rng.uniform(0.2, 0.5) * WIDTH, rng.uniform(0.55, 0.8) * HEIGHT, 0.24 * HEIGHT, 0.28)
    _circle(rows, rng.uniform(0.35, 0.65) * WIDTH, rng.uniform(0.3, 0.6) * HEIGHT, 0.1 * HEIGHT, 0.75)
    return _png(rows)


class SeedPictures:
    """Draws each (category, variant) picture once, into ``folder`` as a hidden source file, and hands out
    per-product file names linked to it."""

    def __init__(self, folder: Path, categories: list[str]):
        self.folder = folder
        self.colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(sorted(categories))}
        self._drawn: dict[tuple[str, int], tuple[Path, str]] = {}

    def name_for(self, product_id: int, category: str, variant: int) -> str:
        """The product's image file name (the file is made by ``link``)."""
        _, digest = self._source(category, variant % VARIANTS)
        return f"{product_id}-{digest}.png"

    def _source(self, category: str, variant: int) -> tuple[Path, str]:
        key = (category, variant)
        if key not in self._drawn:
            data = draw(self.colors.get(category, PALETTE[0]), hash_seed(category, variant))
            digest = hashlib.sha256(data).hexdigest()[:16]
            path = self.folder / f".seed-{digest}.png"
            if not path.exists():
                images.write(self.folder, path.name, data)
            self._drawn[key] = (path, digest)
        return self._drawn[key]

    def link(self, items: list[tuple[str, str, int]]) -> None:
        """(file name, category, variant) each: a hard link to its picture (a copy where links fail)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, category, variant in items:
            source, _ = self._source(category, variant % VARIANTS)
            target = self.folder / name
            if target.exists():
                continue
            try:
                os.link(source, target)
            except OSError:
                images.write(self.folder, name, source.read_bytes())


def hash_seed(category: str, variant: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{category}:{variant}".encode()).digest()[:8], "big")
