"""[plugins.inventory] in config.toml."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ecom.config import ConfigError

REGION_SHAPE = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"config: plugins.inventory.{key} {message}")


@dataclass(frozen=True)
class InventoryConfig:
    regions: tuple[str, ...] = ("eu-west", "us-east", "ap-south")
    reservation_ttl_seconds: int = 900       # default hold of the admin reservations API
    sweep_interval_seconds: float = 5.0      # how often a worker releases expired holds and looks for import jobs
    import_batch_size: int = 500             # import lines applied per transaction
    max_import_lines: int = 100_000          # data lines per CSV file
    max_import_bytes: int = 8 * 1024 * 1024  # size of a CSV file
    import_retention_days: int = 30          # a finished import's lines are deleted this long after (its summary stays)
    low_stock_threshold: int = 5             # LowStock is emitted when a region's available units fall to this

    def validate(self) -> None:
        _check(len(self.regions) >= 1, "regions", "must name at least one region")
        _check(len(set(self.regions)) == len(self.regions), "regions", "must not repeat a region")
        for region in self.regions:
            _check(bool(REGION_SHAPE.fullmatch(region)), "regions",
                   f"{region!r} must be 1-32 lower-case letters, digits and dashes")
        _check(1 <= self.reservation_ttl_seconds <= 7 * 86400, "reservation_ttl_seconds",
               "must be between 1 and 604800")
        _check(0.05 <= self.sweep_interval_seconds <= 3600, "sweep_interval_seconds", "must be between 0.05 and 3600")
        _check(1 <= self.import_batch_size <= 10_000, "import_batch_size", "must be between 1 and 10000")
        _check(1 <= self.max_import_lines <= 1_000_000, "max_import_lines", "must be between 1 and 1000000")
        _check(0 <= self.low_stock_threshold <= 1_000_000_000, "low_stock_threshold",
               "must be between 0 and 1000000000")
        _check(1 <= self.import_retention_days <= 3650, "import_retention_days", "must be between 1 and 3650")
        _check(1024 <= self.max_import_bytes <= 256 * 1024 * 1024, "max_import_bytes",
               "must be between 1024 and 268435456")
