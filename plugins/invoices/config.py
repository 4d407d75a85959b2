"""[plugins.invoices] in config.toml (every key optional)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ecom.config import ConfigError


@dataclass(frozen=True)
class InvoicesConfig:
    default_country: str = "ES"   # a seller's country on their invoices until they fill in /seller/invoicing
    page_size: int = 50           # documents per list page

    def validate(self) -> None:
        if not re.fullmatch(r"[A-Z]{2}", self.default_country):
            raise ConfigError("config: plugins.invoices.default_country must be a two-letter country code (ES)")
        if not 1 <= self.page_size <= 500:
            raise ConfigError("config: plugins.invoices.page_size must be between 1 and 500")
