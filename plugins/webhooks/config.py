"""[plugins.webhooks] in config.toml: who may be called, how often deliveries are retried, when to give up."""
from __future__ import annotations

from dataclasses import dataclass

from ecom.config import ConfigError


@dataclass(frozen=True)
class WebhooksConfig:
    allow_loopback_http: bool = False   # dev/tests only: http://127.0.0.1 / localhost endpoints (and loopback addresses)
    allow_private_addresses: bool = False  # endpoints on private, link-local or reserved addresses (an internal ERP)
    timeout_seconds: float = 10.0       # one delivery attempt: connect + answer
    poll_seconds: float = 1.0           # how often each worker's relay looks for due deliveries
    retry_base_seconds: float = 30.0    # first retry after about this long, doubling per attempt (with jitter) ...
    retry_max_seconds: float = 3600.0   # ... up to this gap between attempts
    give_up_hours: float = 24.0         # a delivery not accepted within this long is marked failed
    disable_after_hours: float = 24.0   # an endpoint whose every attempt failed for this long ...
    disable_min_failures: int = 10      # ... and at least this many times in a row is disabled (admin page re-enables)
    lease_seconds: float = 60.0         # a claimed delivery is another relay's to retry after this (> timeout)

    def validate(self) -> None:
        def need(ok: bool, key: str, rule: str) -> None:
            if not ok:
                raise ConfigError(f"config: plugins.webhooks.{key} must be {rule}")
        need(0.5 <= self.timeout_seconds <= 60, "timeout_seconds", "between 0.5 and 60")
        need(0.05 <= self.poll_seconds <= 60, "poll_seconds", "between 0.05 and 60")
        need(0.01 <= self.retry_base_seconds <= 3600, "retry_base_seconds", "between 0.01 and 3600")
        need(self.retry_base_seconds <= self.retry_max_seconds <= 86400, "retry_max_seconds",
             "between retry_base_seconds and 86400")
        need(0.0001 <= self.give_up_hours <= 720, "give_up_hours", "between 0.0001 and 720")
        need(0.0001 <= self.disable_after_hours <= 720, "disable_after_hours", "between 0.0001 and 720")
        need(1 <= self.disable_min_failures <= 100000, "disable_min_failures", "between 1 and 100000")
        need(self.timeout_seconds < self.lease_seconds <= 3600, "lease_seconds", "above timeout_seconds, at most 3600")
