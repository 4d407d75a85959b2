"""[plugins.reviews] in config.toml."""
from __future__ import annotations

from dataclasses import dataclass

from ecom.config import ConfigError

TEXT_LIMIT = 5000  # the column's own CHECK: a config cannot allow more


@dataclass(frozen=True)
class ReviewsConfig:
    max_text: int = 2000          # longest review text, in characters (0 = stars only)
    shown_on_product: int = 5     # newest visible reviews shown on the product page (the API pages through all)
    moderation_page: int = 50     # reviews a page on /seller/reviews and /admin/reviews (as the shop's other lists)

    def validate(self) -> None:
        if not 0 <= self.max_text <= TEXT_LIMIT:
            raise ConfigError(f"config: plugins.reviews.max_text must be between 0 and {TEXT_LIMIT}")
        if not 0 <= self.shown_on_product <= 50:
            raise ConfigError("config: plugins.reviews.shown_on_product must be between 0 and 50")
        if not 1 <= self.moderation_page <= 200:
            raise ConfigError("config: plugins.reviews.moderation_page must be between 1 and 200")
