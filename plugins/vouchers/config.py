"""[plugins.vouchers] in config.toml."""
from __future__ import annotations

from dataclasses import dataclass

from ecom.config import ConfigError


@dataclass(frozen=True)
class VouchersConfig:
    page_size: int = 50            # vouchers per list page (admin and seller)
    recent_redemptions: int = 50   # redemptions shown on a voucher's page

    def validate(self) -> None:
        if not 1 <= self.page_size <= 500:
            raise ConfigError("config: plugins.vouchers.page_size must be between 1 and 500")
        if not 1 <= self.recent_redemptions <= 1000:
            raise ConfigError("config: plugins.vouchers.recent_redemptions must be between 1 and 1000")
