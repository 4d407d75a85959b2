"""[plugins.addresses] in config.toml."""
from __future__ import annotations

from dataclasses import dataclass

from ecom.config import ConfigError


@dataclass(frozen=True)
class AddressesConfig:
    max_per_user: int = 20   # addresses one customer may keep in their book

    def validate(self) -> None:
        if not 1 <= self.max_per_user <= 1000:
            raise ConfigError("config: plugins.addresses.max_per_user must be between 1 and 1000")
