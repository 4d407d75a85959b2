"""Config: defaults, file, ECOM__ environment overrides, and one clear line for every mistake."""
import pytest

from ecom.config import ConfigError, load_config


def write(tmp_path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_defaults_without_file(tmp_path):
    cfg = load_config(None, environ={})
    assert cfg.server.port == 8080 and cfg.database.url == "" and cfg.broker.embedded_port == 18830


def test_shipped_config_toml_loads_and_matches_defaults():
    from pathlib import Path
    from ecom.config import Config
    cfg = load_config(Path(__file__).parent.parent / "config.toml", environ={})
    defaults = Config()
    # the built-in plugins, in the defaults' order; then any the project added (run.py new-plugin enables its own here)
    assert cfg.plugins.enabled[:len(defaults.plugins.enabled)] == defaults.plugins.enabled
    for section in ("server", "database", "broker", "security", "nginx"):
        assert getattr(cfg, section) == getattr(defaults, section), f"config.toml [{section}] drifted from defaults"


def test_env_overrides_nested_keys(tmp_path):
    path = write(tmp_path, "[server]\nport = 9000\n")
    env = {"ECOM__SERVER__PORT": "9100", "ECOM__SECURITY__CORS_ORIGINS": '["https://a.example"]',
           "ECOM__DATABASE__URLS__ORDERS": "postgresql://db2/orders",
           "ECOM__PLUGINS__USERS__TOKEN_TTL_HOURS": "5", "ECOM__BROKER__URL": "mqtt://u:p@broker:1883"}
    cfg = load_config(path, environ=env)
    assert cfg.server.port == 9100
    assert cfg.security.cors_origins == ("https://a.example",)
    assert cfg.database.urls["orders"] == "postgresql://db2/orders"
    assert cfg.plugins.settings["users"]["token_ttl_hours"] == 5
    assert cfg.broker.url == "mqtt://u:p@broker:1883"


@pytest.mark.parametrize("text, env, key", [
    ("[server]\nprot = 1\n", {}, "server.prot"),
    ("[server]\nport = 'abc'\n", {}, "server.port"),
    ("[server]\nport = 70000\n", {}, "server.port"),
    ("[sever]\nport = 1\n", {}, "[sever]"),
    ("", {"ECOM__SERVER__PORT": "abc"}, "server.port"),
    ("", {"ECOM__DATABASE__URL": "mysql://x"}, "database.url"),
    ("", {"ECOM__BROKER__URL": "http://x"}, "broker.url"),
    ("[security]\ncors_origins = ['example.com']\n", {}, "security.cors_origins"),
    ("[server\n", {}, "not valid TOML"),
    ("", {"ECOM__SERVER": "1"}, "ECOM__SECTION__KEY"),
])
def test_mistakes_name_the_key_in_one_line(tmp_path, text, env, key):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), environ=env)
    message = str(err.value)
    assert key in message and "\n" not in message


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", environ={})


def test_relative_data_dir_resolves_against_config_folder(tmp_path):
    cfg = load_config(write(tmp_path, "[server]\ndata_dir = 'state'\n"), environ={})
    assert cfg.data_dir == (tmp_path / "state").resolve()


def test_a_sections_own_check_raising_valueerror_is_one_config_line():
    """A plugin's config dataclass whose validate() raises ValueError stops start-up with one line naming the
    section (it was a traceback: validate() ran outside parse_section's guard)."""
    from dataclasses import dataclass

    from ecom.config import ConfigError, parse_section

    @dataclass(frozen=True)
    class Limits:
        most: int = 10

        def validate(self) -> None:
            if self.most < 1:
                raise ValueError("most must be at least 1")

    assert parse_section(Limits, {"most": 3}, "plugins.demo").most == 3
    with pytest.raises(ConfigError, match=r"^config: plugins\.demo: most must be at least 1$"):
        parse_section(Limits, {"most": 0}, "plugins.demo")
