from dataclasses import dataclass

from ecom.config import ConfigError
from ecom.plugin import Plugin


@dataclass(frozen=True)
class ConfiguredConfig:
    delay_seconds: int = 30
    label: str = "x"

    def validate(self) -> None:
        if self.delay_seconds < 0:
            raise ConfigError("config: plugins.configured.delay_seconds must be >= 0")


PLUGIN = Plugin(name="configured", config=ConfiguredConfig, database=False)
