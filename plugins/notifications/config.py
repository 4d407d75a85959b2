"""[plugins.notifications] in config.toml (where mails go and how they are sent is core's [mail])."""
from __future__ import annotations

from dataclasses import dataclass

from ecom.config import ConfigError


@dataclass(frozen=True)
class NotificationsConfig:
    base_url: str = ""             # links in mails start with this; "" = http://<[server] host>:<port>
    poll_seconds: float = 1.0      # how often each worker's relay looks for due mails
    retry_base_seconds: float = 30.0  # first retry after about this long, doubling each time (capped at 1 h)
    lease_seconds: float = 120.0   # a claimed mail is another relay's to retry only after this (> [mail] timeout)

    def validate(self) -> None:
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            raise ConfigError("config: plugins.notifications.base_url must start with http:// or https:// (or be \"\")")
        if not 0.05 <= self.poll_seconds <= 60:
            raise ConfigError("config: plugins.notifications.poll_seconds must be between 0.05 and 60")
        if not 0.01 <= self.retry_base_seconds <= 3600:
            raise ConfigError("config: plugins.notifications.retry_base_seconds must be between 0.01 and 3600")
        if not 1 <= self.lease_seconds <= 3600:
            raise ConfigError("config: plugins.notifications.lease_seconds must be between 1 and 3600")
