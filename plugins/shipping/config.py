"""[plugins.shipping] in config.toml. The data file's shape is checked here, while the config is parsed,
so that a bad file stops start-up (exit status 2) with one line naming the key; its regions are checked
against [plugins.inventory] regions when the plugin starts."""
from __future__ import annotations

from dataclasses import dataclass

from .table import ShippingTable, load_table


@dataclass(frozen=True)
class ShippingConfig:
    rates_file: str = ""  # "" = plugins/shipping/shipping.toml; else the operator's copy (relative: project folder)

    def validate(self) -> None:
        self.table()

    def table(self, regions: tuple[str, ...] | None = None) -> ShippingTable:
        return load_table(self.rates_file, regions)
