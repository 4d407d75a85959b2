"""[plugins.taxes] in config.toml. The rates file is read and checked here, while the config is parsed,
so that a bad file stops start-up (exit status 2) with one line naming the key, before anything starts."""
from __future__ import annotations

from dataclasses import dataclass

from .table import TaxTable, load_table


@dataclass(frozen=True)
class TaxesConfig:
    rates_file: str = ""             # "" = plugins/taxes/rates.toml; else the operator's copy (relative: project folder)
    prices_include_tax: bool = True  # catalog prices are gross (EU style); false = net, tax added on top (US style)

    def validate(self) -> None:
        self.table()

    def table(self) -> TaxTable:
        return load_table(self.rates_file)
