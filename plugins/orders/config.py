"""[plugins.orders] in config.toml."""
from __future__ import annotations

from dataclasses import dataclass

from ecom.config import ConfigError

MAX_TTL = 7 * 86400 - 60  # inventory holds stock 60 s longer than the order waits for its payment


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"config: plugins.orders.{key} {message}")


@dataclass(frozen=True)
class OrdersConfig:
    reservation_ttl_seconds: int = 900   # an unpaid order expires (and frees its stock) this long after checkout
    expiry_sweep_seconds: float = 5.0    # how often each worker expires unpaid orders and retries stock calls
    max_lines: int = 50                  # lines of one order (and of one cart)

    def validate(self) -> None:
        _check(1 <= self.reservation_ttl_seconds <= MAX_TTL, "reservation_ttl_seconds",
               f"must be between 1 and {MAX_TTL}")
        _check(0.05 <= self.expiry_sweep_seconds <= 3600, "expiry_sweep_seconds", "must be between 0.05 and 3600")
        _check(1 <= self.max_lines <= 1000, "max_lines", "must be between 1 and 1000")
