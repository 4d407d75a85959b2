"""The command line (``python run.py ...``), DESIGN §10.

    run.py [run] [--instances N] [--port P] [--data-dir DIR] [--config FILE]
                         [--rotate-secret]   a new secret.key (says what that voids)
    run.py worker        one app process, no embedded parts (its PostgreSQL and broker live elsewhere)
    run.py migrate       apply every plugin's migrations, then exit
    run.py nginx-conf    print the nginx config that --instances N runs with
    run.py reload        rolling restart of a running --instances N shop's workers (refused: one-process shop)
    run.py create-admin EMAIL [--password-stdin]
    run.py seed --products N [--again]   a demo catalog (sellers, categories, prices, stock in several
                                          regions); refused where products exist, unless --again
    run.py trace ORDER_ID      the checkout trace of an order, as a waterfall ([tracing] exporter = "file")
    run.py backup [--output FILE]         every database, uploads, mail, secret in one archive (ecom/backup.py)
    run.py restore FILE --data-dir NEW    that archive into a new, empty data dir
    run.py new-plugin NAME [--external DIR] [--no-enable]   a working plugin to start from (ecom/scaffold)

The common options (--config, --data-dir, --port, --instances) mean the same before or after the
command. ``run.py CMD --help`` says what CMD does. Mistakes in config or plugins, a broken config file or
data dir, a busy port and a refused command print one line and exit with status 2 (ecom/preflight.py).
"""
from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import re
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from .config import Config, ConfigError, load_config
from .datadir import AlreadyRunning, DataDirLock, embedded_postgres, own_data_dir
from .embedded import EmbeddedPostgresError
from .db import MigrationError
from .plugin import PluginError, load_plugins
from .preflight import StartupError, check_data_dir, check_ports

log = logging.getLogger("ecom")
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
EXIT_CONFIG = 2


def _common(*, defaults: bool) -> argparse.ArgumentParser:
    """The options every command takes, written before or after the subcommand with the same meaning.

    The top level holds the defaults; each subcommand's copy defaults to SUPPRESS. argparse copies a
    subcommand's parsed values over the top level's, so a copy defaulting to None used to erase
    ``run.py --data-dir X seed``'s X (it seeded var/) and ``--data-dir X reload`` signalled the default shop."""
    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=default("config.toml"), help="config file (default: config.toml)")
    common.add_argument("--data-dir", default=default(None),
                        help="where PostgreSQL data, uploads and secrets live (default: var/)")
    common.add_argument("--port", type=int, default=default(None), help="public HTTP port (default 8080)")
    common.add_argument("--instances", type=int, default=default(None),
                        help="app processes behind nginx (without the flag: one process, no nginx)")
    return common


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="run.py", parents=[_common(defaults=True)], description="Run the ecom shop.")
    common = _common(defaults=False)  # every subcommand's copy: see _common
    rotate_help = "make a new shop secret (secret.key) and say what that voids: sessions, pending card payments"
    parser.add_argument("--rotate-secret", action="store_true", help=rotate_help)
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", parents=[common], help="start the whole shop (default)")
    run.add_argument("--rotate-secret", action="store_true", default=argparse.SUPPRESS, help=rotate_help)
    sub.add_parser("worker", parents=[common], help="one app process using external PostgreSQL and broker")
    sub.add_parser("migrate", parents=[common], help="apply pending migrations and exit")
    admin = sub.add_parser("create-admin", parents=[common], help="create an admin user (or promote one)")
    admin.add_argument("email")
    admin.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    sub.add_parser("nginx-conf", parents=[common], help="print the generated nginx config for --instances N")
    sub.add_parser("reload", parents=[common], help="rolling restart of the workers of a running --instances shop "
                   "(a one-process shop has none: refused)")
    seed = sub.add_parser("seed", parents=[common], help="fill the shop with a demo catalog (refused when it "
                          "already has products, unless --again)")
    seed.add_argument("--products", type=int, default=1000, help="how many products (default 1000)")
    seed.add_argument("--random-seed", type=int, default=7, help="same number, same shop")
    seed.add_argument("--again", action="store_true",
                      help="add another demo catalog to a shop that already has products")
    backup = sub.add_parser("backup", parents=[common], help="write every plugin database, the uploads, the "
                            "mail and the shop secret into one archive (mode 0600; works while the shop runs)")
    backup.add_argument("--output", help="archive file (default: <data dir>/backups/ecom-<UTC time>.tar.gz)")
    restore = sub.add_parser("restore", parents=[common], help="bring a backup archive back into a new, empty "
                             "--data-dir (databases, uploads, mail, secret)")
    restore.add_argument("archive", help="a file made by run.py backup")
    trace = sub.add_parser("trace", parents=[common], help="print the trace of an order's checkout as a waterfall "
                           "(from the [tracing] file; no collector needed)")
    trace.add_argument("order_id", help="the order's id, like ord_...")
    trace.add_argument("--file", help="spans file (default: [tracing] file, else <data dir>/traces.jsonl)")
    scaffold = sub.add_parser("new-plugin", parents=[common], help="write a working plugin (service, database, "
                              "page, API, event, Spanish texts, tests) into the first [plugins] paths folder and "
                              "enable it (ecom/scaffold)")
    scaffold.add_argument("name", help="the plugin's name: lower-case letters, digits, _ (e.g. wishlist)")
    scaffold.add_argument("--external", metavar="DIR", help="write DIR/ecom-NAME/, an installable distribution with "
                          "an ecom.plugins entry point, instead (not enabled: install it first)")
    scaffold.add_argument("--no-enable", action="store_true", help="leave [plugins] enabled as it is")
    _describe(sub)
    return parser


def _describe(sub: argparse._SubParsersAction) -> None:
    """`run.py CMD --help` says what CMD does: its one-line help from the command list becomes its
    description (argparse shows ``help=`` only in `run.py --help`). Also covers commands added later."""
    for action in sub._choices_actions:  # one per subcommand, carrying its help text
        parser = sub.choices[action.dest]
        if not parser.description and action.help:
            parser.description = action.help[:1].upper() + action.help[1:] + "."


def _load(args: argparse.Namespace) -> Config:
    overrides: dict[str, dict[str, Any]] = {"server": {}}
    if args.port is not None:
        overrides["server"]["port"] = args.port
    if args.data_dir is not None:
        overrides["server"]["data_dir"] = str(Path(args.data_dir).resolve())
    if args.instances is not None:
        overrides["server"]["instances"] = args.instances
    config_path = Path(args.config)
    if args.config != "config.toml" and not config_path.exists():
        raise ConfigError(f"config: file {config_path} not found")
    root = Path(__file__).resolve().parent.parent if not config_path.exists() else None
    return load_config(config_path, overrides=overrides, root=root)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "run"
    try:
        config = _load(args)
        if command == "new-plugin":  # writes files only: no plugin is imported, nothing is started
            from .scaffold.command import new_plugin
            config_file = Path(args.config) if Path(args.config).exists() else None
            return new_plugin(config, config_file, args.name, external=args.external, enable_it=not args.no_enable)
        from .logs import setup_logging
        setup_logging(config.server.log_level, json_format=not sys.stderr.isatty())
        loaded = load_plugins(config)
        if command == "run":
            behind_nginx = args.instances is not None or config.server.instances > 1  # --instances 1: one worker
            check_data_dir(config.data_dir)
            with own_data_dir(config.data_dir):  # a second run.py hears "already running", not "port in use"
                pass
            check_ports(config, supervisor=behind_nginx)
            _check_secret(config, rotate=args.rotate_secret)
            config_file = str(Path(args.config).resolve()) if Path(args.config).exists() else None
            return _run(config, loaded, config_file, behind_nginx)
        if command == "worker":
            return _worker(config, loaded)
        if command == "migrate":
            return _with_database(config, lambda cfg: _migrate(cfg, loaded))
        if command == "nginx-conf":
            from . import nginx
            for name, text in nginx.render(config, loaded, config.data_dir / "nginx").items():
                print(f"# ---- {name}\n{text}")
            return 0
        if command == "reload":
            _refuse_reload_without_workers(config)
            from .supervisor import request_reload
            return request_reload(config)
        if command == "seed":
            if not 1 <= args.products <= 1_000_000:
                raise ConfigError("seed: --products must be between 1 and 1000000")
            return _with_database(config, lambda cfg: _seed(cfg, loaded, args.products, args.random_seed, args.again))
        if command == "create-admin":
            password = _read_password(args)
            return _with_database(config, lambda cfg: _create_admin(cfg, loaded, args.email, password))
        if command == "trace":
            from .tracing import trace_file
            from .tracing.waterfall import show
            return show(Path(args.file) if args.file else trace_file(config), args.order_id)
        if command in ("backup", "restore"):
            from . import backup, restore
            if command == "backup":
                return backup.backup_command(config, args.output)
            return restore.restore_command(config, args.archive)
    except (ConfigError, PluginError, MigrationError) as err:
        print(f"ecom: {err}", file=sys.stderr)
        return EXIT_CONFIG
    except EmbeddedPostgresError as err:  # raised only while starting: a cluster it cannot run
        print(f"ecom: {_postgres_line(err)}", file=sys.stderr)
        return EXIT_CONFIG
    except AlreadyRunning as err:
        print(f"ecom: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


_PG_LOG_LINE = re.compile(r"^\S+ \S+ \S+ \[(\d+)\] (?:LOG|FATAL|PANIC|ERROR|DETAIL|HINT):\s+(.*)$")


def _postgres_line(err: EmbeddedPostgresError) -> str:
    """One line for a PostgreSQL that would not start: its message carries the tail of postgres.log (15
    lines, earlier runs' included); keep what the last run (the pid of the last log line) said."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else "PostgreSQL did not start"
    parsed = [m.groups() for m in map(_PG_LOG_LINE.match, lines[1:]) if m]
    last_run = [text for pid, text in parsed if parsed and pid == parsed[-1][0]]
    return f"{lines[0].rstrip(':')}: {'; '.join(last_run) or lines[-1]}"


def _refuse_reload_without_workers(config: Config) -> None:
    """`run.py reload` signals only a supervisor: SIGHUP's default action used to stop a one-process shop
    (and a one-shot command such as seed) while reload reported success. The data dir's owner says what it
    is in its lock (ecom.datadir); "" is an owner that does not say (an ecom older than this): as before, it
    gets the signal, so the upgrade recipe (pull, migrate, reload) works on a shop started by older code."""
    check_data_dir(config.data_dir)
    lock = DataDirLock(config.data_dir)
    if lock.acquire():
        lock.release()
        return  # nothing runs: request_reload says so
    role = lock.role()
    if role == "single":
        raise StartupError(f"reload: the shop on {config.data_dir} (pid {lock.holder()}) runs as one process, "
                           "without workers to restart: restart it, or start it with --instances N for rolling restarts")
    if role not in ("", "supervisor"):
        raise StartupError(f"reload: {config.data_dir} is held by a {role} (pid {lock.holder()}), not by a shop "
                           "with workers: nothing to reload")


def _check_secret(config: Config, *, rotate: bool) -> None:
    """Before anything starts: the shop secret is sound, or made new on the operator's word (SecretError else)."""
    from .secret import load_secret, rotate_secret
    if rotate:
        voided = rotate_secret(config)
        print(f"ecom: made a new shop secret; voided: {'; '.join(voided)}", file=sys.stderr, flush=True)
    else:
        load_secret(config)


def _with_embedded_urls(config: Config, pg_url: str | None, broker_url: str | None = None) -> Config:
    changes: dict[str, dict[str, Any]] = {}
    if pg_url and not config.database.url:
        changes["database"] = {"url": pg_url}
    if broker_url and not config.broker.url:
        changes["broker"] = {"url": broker_url}
    return config.replace(**changes) if changes else config


def _uses_embedded_postgres(config: Config) -> bool:
    return not config.database.url


def _with_database(config: Config, action) -> int:
    """Run ``action(config)`` against the configured PostgreSQL (the embedded one shared or started)."""
    if not _uses_embedded_postgres(config):
        return asyncio.run(action(config))
    check_data_dir(config.data_dir)
    _check_secret(config, rotate=False)  # made (or checked) before a first command creates the cluster
    with embedded_postgres(config.data_dir, config.database.max_connections, serving=False) as pg:
        return asyncio.run(action(_with_embedded_urls(config, pg.url("postgres"))))


async def _migrate(config: Config, loaded) -> int:
    from .app import migrate_all
    applied = await migrate_all(config, loaded)
    for plugin, keys in applied.items():
        print(f"{plugin}: {len(keys)} migration(s) applied" + (f" ({', '.join(keys)})" if keys else ""))
    return 0


async def _seed(config: Config, loaded, products: int, random_seed: int, again: bool) -> int:
    from .seed import SeedOptions, run_seed
    started = time.monotonic()
    await run_seed(config, loaded, SeedOptions(products=products, random_seed=random_seed, again=again))
    print(f"seeded {products} products in {time.monotonic() - started:.1f} s")
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if os.environ.get("ECOM_ADMIN_PASSWORD"):
        return os.environ["ECOM_ADMIN_PASSWORD"]
    first = getpass.getpass("Password for the admin: ")
    if first != getpass.getpass("Again: "):
        raise ConfigError("create-admin: the two passwords differ")
    return first


async def _create_admin(config: Config, loaded, email: str, password: str) -> int:
    from .app import migrate_plugin, plugin_database_url
    from plugins.users.admin import create_admin
    import asyncpg

    users = next((p for p in loaded.plugins if p.name == "users"), None)
    if users is None:
        raise PluginError("create-admin: the users plugin is not enabled")
    await migrate_plugin(config, users)
    pool = await asyncpg.create_pool(plugin_database_url(config, "users"), min_size=1, max_size=2)
    try:
        user_id = await create_admin(pool, email, password, time_cost=config.security.argon2_time_cost,
                                     memory_kib=config.security.argon2_memory_kib)
    except ValueError as err:
        print(f"ecom: create-admin: {err}", file=sys.stderr)
        return EXIT_CONFIG
    finally:
        await pool.close()
    print(f"admin {email} ready (user id {user_id})")
    return 0


def serve_forever(main) -> int:
    """Run a serving process's ``main`` coroutine on uvloop when it is installed (every supported platform
    but Windows): its event loop and transports are C (libuv), which took about a fifth off a worker's CPU
    per API request (docs/performance.md). ``ECOM_EVENT_LOOP=asyncio`` keeps the standard loop, to compare
    or to rule the loop out when chasing a bug. Short commands (migrate, seed) keep asyncio.run."""
    uvloop = None
    if os.environ.get("ECOM_EVENT_LOOP", "uvloop") != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
    if uvloop is None:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def _run(config: Config, loaded, config_file: str | None, behind_nginx: bool) -> int:
    if behind_nginx:
        from .supervisor import supervise
        return supervise(config, loaded, started=time.monotonic(), config_file=config_file)
    from .server import serve
    started = time.monotonic()
    if not _uses_embedded_postgres(config):
        return serve_forever(serve(config, loaded, embedded_broker=not config.broker.url, started=started,
                                   embedded_mail=True))
    with embedded_postgres(config.data_dir, config.database.max_connections, serving=True, role="single") as pg:
        config = _with_embedded_urls(config, pg.url("postgres"))
        return serve_forever(serve(config, loaded, embedded_broker=not config.broker.url, started=started,
                                   embedded_mail=True, postgres=pg))  # exits 1 if PostgreSQL dies


def _worker(config: Config, loaded) -> int:
    from .server import serve
    if not config.database.url and not config.database.urls:
        raise ConfigError("config: database.url must be set for a worker (its PostgreSQL lives elsewhere)")
    if not config.broker.url:
        raise ConfigError("config: broker.url must be set for a worker (its broker lives elsewhere)")
    return serve_forever(serve(config, loaded, embedded_broker=False, started=time.monotonic()))
