"""create_app(config) -> web.Application: the gateway, the plugins, their databases and events."""
from __future__ import annotations

import asyncio
import importlib.util
import logging
from pathlib import Path

import aiohttp_jinja2
import asyncpg
import jinja2
from aiohttp import web

from . import db, links, resilience, slots, tracing
from .tracing import web as tracing_pages
from .broker import new_client_id
from .config import Config
from .events import EventBus
from .gateway import install as install_gateway
from .gateway.keys import CONFIG, IDENTITY
from .health import HEALTH, Health, circuits, liveness
from .metrics import metrics, metrics_middleware
from .openapi import openapi_json
from .events.catalog import events_json
from .gateway.csrf import csrf_context
from .gateway.flash import flash_context
from .gateway.pages import page_context_middleware
from .plugin import SHOP_SECRET, LoadedPlugins, Plugin, PluginContext, check_routes, load_plugins
from .secret import load_secret
from .stopping import Late, cancel_all, within
from . import i18n
from .i18n.web import choose_language, switch_language

log = logging.getLogger("ecom.app")

PLUGINS = web.AppKey("ecom.plugins", LoadedPlugins)
POOLS = web.AppKey("ecom.pools", dict)
EVENT_BUS = web.AppKey("ecom.event_bus", EventBus)
BROKER_WAIT = web.AppKey("ecom.broker_wait", float)
EVENTS_LIVE = web.AppKey("ecom.events_live", bool)  # False: no broker client (CLI tools)
CLOSING = web.AppKey("ecom.closing", asyncio.Event)  # set when shutdown begins: long responses (SSE) end

CORE_DIR = Path(__file__).parent


def plugin_database_url(config: Config, plugin_name: str) -> str:
    if plugin_name in config.database.urls:
        return config.database.urls[plugin_name]
    if not config.database.url:
        raise RuntimeError("no database URL: run through run.py (embedded PostgreSQL) or set [database] url")
    return db.database_url(config.database.url, f"{config.database.name_prefix}_{plugin_name}")


def plugin_migrations(plugin: Plugin) -> list[db.Migration]:
    return db.read_migrations(db.CORE_MIGRATIONS, "core") + db.read_migrations(plugin.folder("migrations"), plugin.name)


async def migrate_plugin(config: Config, plugin: Plugin) -> list[str]:
    url = plugin_database_url(config, plugin.name)
    await db.ensure_database(url)
    conn = await asyncpg.connect(url)
    try:
        return await db.migrate(conn, plugin_migrations(plugin))
    except db.MigrationError as err:
        raise db.MigrationError(f"plugin {plugin.name}: {err}") from None
    finally:
        await conn.close()


async def migrate_all(config: Config, loaded: LoadedPlugins) -> dict[str, list[str]]:
    return {p.name: await migrate_plugin(config, p) for p in loaded.plugins if p.database}


def default_client_id(config: Config) -> str:
    """``[broker] client_id`` if set, else ``ecom-app-<16 random hex>``, new for every process and start:
    an id nobody can predict, so nobody can aim a CONNECT at the shop's session (issue 9)."""
    return config.broker.client_id or new_client_id()


def create_app(config: Config, *, loaded: LoadedPlugins | None = None, secret: bytes | None = None,
               broker_wait: float = 5.0, events: bool = True) -> web.Application:
    """``events=False`` (CLI tools such as seed): no broker client at all; what plugins emit waits in
    their outboxes until the running shop's relays publish it."""
    loaded = loaded or load_plugins(config)
    secret = secret or load_secret(config)
    if config.tracing.enabled:  # before the Application is made: the aiohttp instrumentation wraps its class
        tracing.enable(config, config.server.name or f"{config.server.host}:{config.server.port}")
    app = web.Application(client_max_size=config.server.max_body_bytes)
    if config.tracing.enabled:
        app.on_cleanup.append(_stop_tracing)
    _setup_languages(config, loaded)
    app[PLUGINS] = loaded
    app[SHOP_SECRET] = secret
    install_gateway(app, config, secret)
    app.middlewares.insert(0, metrics_middleware)  # outermost: it sees the final status of every answer
    _setup_templates(app, config, loaded)
    _add_core_routes(app, loaded)
    tracing_pages.install(app, config, loaded)  # admin trace pages; trace ids for access lines (ecom/tracing/web.py)
    bus = EventBus(config.broker, client_id=default_client_id(config), secret=secret,
                   command_timeout=config.database.command_timeout, shutdown_timeout=config.server.shutdown_timeout)
    app[EVENT_BUS] = bus
    app[BROKER_WAIT] = broker_wait
    app[EVENTS_LIVE] = events
    app[CLOSING] = asyncio.Event()
    app.on_shutdown.append(_set_closing)
    stages = [_infrastructure, *(_plugin_context(p) for p in loaded.plugins), *([_start_events] if events else [])]
    app.cleanup_ctx.append(_lifecycle(stages))
    return app


def _lifecycle(stages: list):
    """One cleanup context for the whole app: the infrastructure, every plugin's lifespan in dependency
    order, then the events. Shutdown runs in reverse, and so does a start-up that fails half way: what had
    started (pools, a plugin's background tasks) is stopped, each stage through its normal shutdown path,
    before the error goes up. With one aiohttp cleanup context per stage, a failing stage left the earlier
    ones running whenever the caller did not run the app's cleanup (a test client that failed to start)."""
    async def lifecycle(app: web.Application):
        started = []
        try:
            for stage in stages:
                steps = stage(app)
                await steps.__anext__()
                started.append(steps)
            yield
        finally:
            for steps in reversed(started):
                try:
                    await steps.__anext__()
                except StopAsyncIteration:
                    pass
                except Exception:  # noqa: BLE001 - the other stages must still stop
                    log.exception("stopping %s failed", getattr(steps, "__qualname__", steps))
    return lifecycle


async def _stop_tracing(app: web.Application) -> None:
    """Export what is still queued (in a thread: the exporter may wait on a collector), for at most
    [server] shutdown_timeout: a collector that accepts and never answers must not keep the app up."""
    try:
        await within(asyncio.to_thread(tracing.disable), app[CONFIG].server.shutdown_timeout, "tracing",
                     "exporting its last spans")
    except Late:
        pass


async def _set_closing(app: web.Application) -> None:
    app[CLOSING].set()


def _setup_templates(app: web.Application, config: Config, loaded: LoadedPlugins) -> None:
    prefixed = {p.name: jinja2.FileSystemLoader(str(p.folder("templates"))) for p in loaded.plugins
                if p.folder("templates")}
    loader = jinja2.ChoiceLoader([
        jinja2.FileSystemLoader(str(Path(config.root) / "templates")),  # the site's own files win
        jinja2.FileSystemLoader(str(CORE_DIR.parent / "templates")),    # the project's site layout
        jinja2.PrefixLoader(prefixed),
        jinja2.FileSystemLoader(str(CORE_DIR / "templates")),
    ])
    env = aiohttp_jinja2.setup(app, loader=loader, auto_reload=False)  # no os.stat of each template per render
    processors = app[aiohttp_jinja2.APP_CONTEXT_PROCESSORS_KEY] = [  # plugins add theirs (orders: cart_count)
        aiohttp_jinja2.request_processor, _identity_context, csrf_context, flash_context]
    app.middlewares.append(page_context_middleware(processors))  # not on /api/ nor files: ecom/gateway/pages.py
    i18n.install_jinja(env)
    env.globals["shop_plugins"] = loaded.names
    links.install(app, env, loaded.plugins)  # {{ page_url("orders.order", id=...) }}: ecom/links.py
    slots.install(app, env, loaded.plugins, processors)  # {{ slot("navbar") }} and the pages' slots


def _setup_languages(config: Config, loaded: LoadedPlugins) -> None:
    i18n.configure(config.i18n.locales, config.i18n.default_locale, config.i18n.time_zone)
    for plugin in loaded.plugins:
        if plugin.package_dir is not None and (plugin.package_dir / "locale").is_dir():
            i18n.add_catalog_folder(plugin.package_dir / "locale")


async def _identity_context(request: web.Request) -> dict:
    return {"identity": request.get(IDENTITY)}


def bootstrap_dir() -> Path:
    """Bootstrap's dist files, shipped by the bootstrap-wrapper wheel as the namespace package `bootstrap`."""
    spec = importlib.util.find_spec("bootstrap")
    return Path(list(spec.submodule_search_locations)[0])


def _add_core_routes(app: web.Application, loaded: LoadedPlugins) -> None:
    reserved = [("GET", "/healthz", "core"), ("GET", "/readyz", "core"), ("GET", "/api/v1/openapi.json", "core"),
                ("GET", "/api/v1/events", "core"),
                ("GET", "/metrics", "core"), ("POST", "/locale", "core"), ("GET", "/locale", "core")]
    check_routes(loaded.plugins, reserved)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/api/v1/openapi.json", openapi_json)
    app.router.add_get("/api/v1/events", events_json)  # the event catalog (schema, no data)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/locale", switch_language)
    app.router.add_get("/locale", choose_language)
    for plugin in loaded.plugins:
        app.router.add_routes(plugin.routes)
        if plugin.folder("static"):
            app.router.add_static(f"/static/{plugin.name}", plugin.folder("static"))
    app.router.add_static("/static/vendor/bootstrap", bootstrap_dir())
    app.router.add_static("/static/core", CORE_DIR / "static")
    if not any(getattr(r, "method", "") == "GET" and getattr(r, "path", "") == "/" for p in loaded.plugins
               for r in p.routes):
        app.router.add_get("/", home)  # a plugin (products) may serve a richer home page


async def home(request: web.Request) -> web.Response:
    """The site's home page (templates/home.html) when no plugin serves one."""
    return aiohttp_jinja2.render_template("home.html", request, {})


async def _infrastructure(app: web.Application):
    config, loaded = app[CONFIG], app[PLUGINS]
    pools: dict[str, asyncpg.Pool] = {}
    databases = sum(1 for p in loaded.plugins if p.database)
    size = db.pool_size(config.database.max_connections, config.server.instances, databases, config.database.pool_max)
    try:
        for plugin in loaded.plugins:
            if plugin.database:
                await migrate_plugin(config, plugin)
                pools[plugin.name] = await db.create_pool(
                    plugin_database_url(config, plugin.name), max_size=size, min_size=config.database.pool_min,
                    command_timeout=config.database.command_timeout, **resilience.pool_guard(config.database, plugin.name))
        app[POOLS] = pools
        app[resilience.WEB_LIMITS] = resilience.web_limits(config.database)
        if app[EVENTS_LIVE]:
            await app[EVENT_BUS].connect(wait=app[BROKER_WAIT])
        yield
    finally:
        await app[EVENT_BUS].close()  # bounded inside (ecom/stopping.py)
        bound = config.server.shutdown_timeout
        await asyncio.gather(*(_close_pool(name, pool, bound) for name, pool in pools.items()), return_exceptions=True)


async def _close_pool(name: str, pool: asyncpg.Pool, bound: float) -> None:
    """Close gracefully; if that does not end within ``bound`` (asyncpg's close waits for every borrowed
    connection to come back, and says goodbye to each: forever with a frozen server or a task that keeps
    its connection), drop the connections instead."""
    try:
        await within(pool.close(), bound, f"the database pool of {name}", "closing (its connections are dropped)")
    except (Late, OSError, asyncpg.PostgresError):
        pool.terminate()


def _plugin_context(plugin: Plugin):
    async def lifespan(app: web.Application):
        loaded, bus = app[PLUGINS], app[EVENT_BUS]
        pool = app[POOLS].get(plugin.name)
        events = bus.for_plugin(plugin.name, pool) if pool is not None else None
        ctx = PluginContext(plugin, app, app[CONFIG], loaded.configs[plugin.name], pool, events)
        if plugin.lifespan is None:
            yield
            return
        steps = plugin.lifespan(ctx)
        await steps.__anext__()  # start-up
        yield
        bound = app[CONFIG].server.shutdown_timeout
        try:  # bounded: one plugin's stuck shutdown must not keep the process (and the others') from ending
            await within(steps.__anext__(), bound, f"plugin {plugin.name}")  # shutdown; logs one line if late
        except (StopAsyncIteration, Late):
            pass
        else:
            raise RuntimeError(f"plugin {plugin.name}: lifespan must yield exactly once")
    lifespan.__qualname__ = f"lifespan[{plugin.name}]"
    return lifespan


async def _start_events(app: web.Application):
    bus, config = app[EVENT_BUS], app[CONFIG]
    health = app[HEALTH] = Health(config.server.name or f"{config.server.host}:{config.server.port}", bus, app[POOLS])
    await bus.start()  # subscriptions and outbox relays, once every plugin has registered its handlers
    beats = asyncio.get_running_loop().create_task(health.run(), name="liveness probe")
    yield
    await cancel_all([beats], config.server.shutdown_timeout, "the liveness probe")
    await bus.stop()  # bounded inside


async def healthz(request: web.Request) -> web.Response:
    return web.json_response(liveness(request.app.get(POOLS, {})))  # 200, "degraded" with open circuits


async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    for name, pool in request.app[POOLS].items():
        try:
            async with asyncio.timeout(2):
                await pool.fetchval("SELECT 1")
            checks[f"db:{name}"] = "ok"
        except Exception as err:  # noqa: BLE001 - any failure means not ready
            checks[f"db:{name}"] = f"error: {type(err).__name__}"
    checks["broker"] = "ok" if request.app[EVENT_BUS].connected else "disconnected"
    health = request.app.get(HEALTH)  # our own probe went round the broker lately (ecom.health)
    checks["events"] = "ok" if health is not None and health.flowing else "not flowing"
    ready = all(v == "ok" for v in checks.values())
    return web.json_response({"status": "ready" if ready else "not ready", "checks": checks,
                              "circuits": circuits(request.app[POOLS])},
                             status=200 if ready else 503)
