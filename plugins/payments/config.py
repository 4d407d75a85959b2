"""[plugins.payments] in config.toml."""
from __future__ import annotations

from dataclasses import dataclass

from ecom.config import ConfigError


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"config: plugins.payments.{key} {message}")


@dataclass(frozen=True)
class PaymentsConfig:
    delay_seconds: float = 30.0          # a payment is processed this long after it is requested (durable)
    card_token_ttl_seconds: int = 3600   # a card token older than this is refused ("Card details expired")
    scheduler_batch: int = 50            # due payments one worker claims per transaction

    def validate(self) -> None:
        _check(0 <= self.delay_seconds <= 7 * 86400, "delay_seconds", "must be between 0 and 604800")
        _check(1 <= self.card_token_ttl_seconds <= 7 * 86400, "card_token_ttl_seconds",
               "must be between 1 and 604800")
        _check(1 <= self.scheduler_batch <= 1000, "scheduler_batch", "must be between 1 and 1000")
