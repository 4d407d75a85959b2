"""Per-plugin databases: create if missing, migrate (numbered .sql files, checksums, advisory lock), pool.

A migration folder holds ``NNNN_description.sql`` files. Each is applied once, in order, inside a
transaction, and recorded in that database's ``schema_migrations`` with its SHA-256. Every process
takes the same PostgreSQL advisory lock first, so N workers starting together migrate exactly once.
Editing an applied migration is an error: add a new file instead.
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from .config import ConfigError
from .resilience import ROLLBACK_TIMEOUT, WEB, Breaker

log = logging.getLogger("ecom.db")

MIN_POOL = 4
MIGRATION_LOCK_KEY = 0x65636F6D  # "ecom": same key in every database
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

# The database, or the way to it, is away for now (server down or restarting, connections refused,
# "database is not currently accepting connections", pool or socket broken): try again later, and
# never take it for a bug or for bad data.
OUTAGES = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.InternalClientError,
           asyncpg.OperatorInterventionError, asyncpg.InsufficientResourcesError,
           asyncpg.ObjectNotInPrerequisiteStateError, OSError, TimeoutError)

CORE_MIGRATIONS = Path(__file__).parent / "migrations"  # outbox + inbox, applied to every plugin database


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    source: str      # "core" or the plugin name
    version: str     # "0001"
    name: str        # file name
    sql: str

    @property
    def key(self) -> str:
        return f"{self.source}:{self.name}"

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def read_migrations(folder: Path | None, source: str) -> list[Migration]:
    if folder is None or not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.iterdir()):
        if path.suffix != ".sql":
            continue
        if not _NAME.match(path.name):
            raise MigrationError(f"{source}: migration file {path.name} must be named NNNN_description.sql")
        found.append(Migration(source, path.name[:4], path.name, path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"{source}: two migrations share a number in {folder}")
    return found


def database_url(base_url: str, database: str) -> str:
    """The URL of ``database`` on the server of ``base_url`` (query string, e.g. a socket host, kept)."""
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


async def ensure_database(url: str) -> None:
    """Create the database named in ``url`` when it does not exist (connecting to ``postgres`` for that)."""
    name = database_name(url)
    try:
        conn = await asyncpg.connect(url)
        await conn.close()
        return
    except asyncpg.InvalidCatalogNameError:
        pass
    admin = await asyncpg.connect(database_url(url, "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        log.info("created database %s", name)
    except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
        pass  # another process won the race
    finally:
        await admin.close()


async def migrate(conn: asyncpg.Connection, migrations: list[Migration]) -> list[str]:
    """Apply what is pending; return the keys applied. Raises MigrationError on an edited or bad file."""
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                key        text PRIMARY KEY,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now())""")
        done = {r["key"]: r["checksum"] for r in await conn.fetch("SELECT key, checksum FROM schema_migrations")}
        for m in migrations:
            if m.key in done:
                if done[m.key] != m.checksum:
                    raise MigrationError(f"{m.source}: migration {m.name} was edited after it was applied "
                                         "(add a new migration instead)")
                continue
            try:
                async with conn.transaction():
                    await conn.execute(m.sql)
                    await conn.execute("INSERT INTO schema_migrations (key, checksum) VALUES ($1, $2)",
                                       m.key, m.checksum)
            except asyncpg.PostgresError as err:
                raise MigrationError(f"{m.source}: migration {m.name} failed: {err}") from None
            log.info("applied migration %s", m.key)
            applied_now.append(m.key)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    return applied_now


def pool_size(max_connections: int, instances: int, databases: int, pool_max: int) -> int:
    """Connections per pool so that instances x databases x pool fits the server, with headroom.

    At least 4: a pool lends one connection to its outbox relay's LISTEN and may lend one to a plugin's
    scheduler (payments), and requests need the rest."""
    budget = max_connections - 10
    per_pool = budget // max(instances * databases, 1)
    if per_pool < MIN_POOL:
        raise ConfigError(f"config: database.max_connections = {max_connections} is too small for "
                          f"{instances} instance(s) x {databases} plugin database(s); raise it")
    return min(pool_max, per_pool)


# Settings the server reports to the client whenever they change (GUC_REPORT), and that would change
# the meaning of the next borrower's queries: a plain SET of one is seen without asking the server.
_REPORTED = ("TimeZone", "search_path", "session_authorization", "default_transaction_read_only",
             "standard_conforming_strings", "client_encoding", "DateStyle", "IntervalStyle")


class PooledConnection(asyncpg.Connection):
    """A pool connection that knows whether it carries session state, so a clean release is free.

    asyncpg's default pool reset sends ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL`` on every release: one more round trip to PostgreSQL per ``pool.fetch()`` (two instead
    of one), and round trips are the main CPU cost of a request. Our code keeps no session state on a
    borrowed connection except in a few known places, so the full reset runs only for a connection
    that (a) LISTENed (``add_listener`` marks it), (b) was marked with :func:`mark_session_state`
    (session advisory locks, a plain SET...) or (c) changed a setting the server reports, e.g. a
    ``SET TIME ZONE`` someone forgot to mark. That last check costs a few microseconds, so it is made
    only after a statement without parameters (the only kind a plain ``SET`` can be sent as; BEGIN and
    COMMIT are such statements too). An open transaction is always rolled back (asyncpg does that
    before the reset hook runs), so SET LOCAL and transaction-level advisory locks need nothing."""

    __slots__ = ("_ecom_marked", "_ecom_unchecked", "_ecom_read", "_ecom_names", "_ecom_settings",
                 "_ecom_config", "_ecom_web", "_ecom_breaker")

    def __init__(self, *args, **kwargs):
        self._ecom_web = self._ecom_breaker = None
        super().__init__(*args, **kwargs)
        self._ecom_marked = self._ecom_unchecked = False
        settings = self.get_settings()  # the server's start-up values, already received
        # ConnectionSettings answers unknown attributes through __getattr__ only after a failed normal
        # lookup (an exception each time); calling it directly is a plain dict read
        self._ecom_read = functools.partial(type(settings).__getattr__, settings)
        self._ecom_names = tuple(name for name in _REPORTED if hasattr(settings, name))
        self._ecom_settings = self._reported_settings()

    def _reported_settings(self) -> tuple:
        return tuple(map(self._ecom_read, self._ecom_names))

    def mark_session_state(self) -> None:
        self._ecom_marked = True

    def carries_session_state(self) -> bool:
        if self._ecom_marked:
            return True
        if self._ecom_unchecked:
            self._ecom_unchecked = False
            return self._reported_settings() != self._ecom_settings
        return False

    # -- resilience (ecom/resilience.py): web-request timeouts and the pool's circuit breaker --------------

    @property
    def _config(self):
        """asyncpg reads ``command_timeout`` from here for every statement sent without a timeout: inside a
        web request that is the short ``request_statement_timeout`` (a variant built once per connection)."""
        limits = WEB.get()
        if limits is None:
            return self._ecom_config
        web = self._ecom_web
        if web is None or web.command_timeout != limits.statement_timeout:
            web = self._ecom_web = self._ecom_config._replace(command_timeout=limits.statement_timeout)
        return web

    @_config.setter
    def _config(self, value):
        self._ecom_config, self._ecom_web = value, None

    def _ecom_outage(self, exc: BaseException) -> None:
        """A statement met an outage: count it, and drop a connection that timed out (asyncpg would wait
        for the server to confirm a cancellation, which a frozen server never does)."""
        if isinstance(exc, TimeoutError) and not self.is_closed():
            self.terminate()
        if self._ecom_breaker is not None:
            self._ecom_breaker.failed(exc)

    async def _guarded(self, statement: Awaitable, *, answered_closes: bool = True):
        """Await one statement: an outage is counted (``_ecom_outage``); with ``answered_closes``, an
        answer closes a recovering circuit at once. The one place for that rule, shared by the three
        ways a statement leaves (``_execute``, ``_executemany``, ``execute`` without arguments); it costs
        one coroutine per statement (well under a microsecond), nothing per row."""
        try:
            result = await statement
        except OUTAGES as exc:
            self._ecom_outage(exc)
            raise
        if answered_closes and self._ecom_breaker is not None and self._ecom_breaker.recovering:
            self._ecom_breaker.succeeded()
        return result

    async def _execute(self, *args, **kwargs):
        return await self._guarded(super()._execute(*args, **kwargs))

    async def _executemany(self, *args, **kwargs):
        return await self._guarded(super()._executemany(*args, **kwargs), answered_closes=False)

    async def execute(self, query: str, *args, timeout: float | None = None) -> str:
        if args:  # through _execute, guarded there
            return await super().execute(query, *args, timeout=timeout)
        self._ecom_unchecked = True
        if timeout is None and WEB.get() is not None:
            if query == "COMMIT;":  # asyncpg's transaction: an abandoned COMMIT has an unknown outcome
                timeout = self._ecom_config.command_timeout
            elif query == "ROLLBACK;":  # unanswered: dropped below, and the server rolls back by itself
                timeout = ROLLBACK_TIMEOUT
        return await self._guarded(super().execute(query, timeout=timeout))

    async def add_listener(self, channel, callback):
        self._ecom_marked = True  # before the LISTEN: if it fails half-way, the release still UNLISTENs
        await super().add_listener(channel, callback)

    async def reset_session(self) -> None:
        """asyncpg's full reset query (advisory locks, cursors, LISTENs, settings); clean afterwards."""
        await self.execute(self.get_reset_query())
        self._ecom_marked = self._ecom_unchecked = False


def mark_session_state(conn) -> None:
    """Say that ``conn`` (from one of our pools, or the proxy ``pool.acquire()`` hands out) now holds
    session state the next borrower must not inherit: a session advisory lock (``pg_advisory_lock``,
    even one unlocked in a ``finally``: the unlock may never run), a SET without LOCAL, a WITH HOLD
    cursor. Its release then runs the full reset. Prefer state that ends with the transaction
    (``SET LOCAL``, ``pg_advisory_xact_lock``), which needs no mark. A connection of a plain asyncpg
    pool (which resets every release anyway) needs nothing, so this accepts any connection."""
    mark = getattr(conn, "mark_session_state", None)
    if mark is not None:
        mark()


async def reset_if_needed(conn: asyncpg.Connection) -> None:
    """The pools' ``reset`` hook. asyncpg has already rolled back an open transaction and dropped the
    listener callbacks (``Connection._reset``); the server-side reset runs only when it has work."""
    if not isinstance(conn, PooledConnection):
        await conn.reset()
    elif conn.carries_session_state():
        await conn.reset_session()


class GuardedPool(asyncpg.Pool):
    """A pool behind a circuit breaker: while its database is known to be away, a web request's acquire
    fails at once (DependencyUnavailable) instead of queueing, and otherwise waits at most
    ``acquire_timeout`` (and so does its release, which asyncpg bounds by the acquire's timeout).
    Outages count from every caller, web or background."""

    __slots__ = ("breaker",)

    def __init__(self, *args, breaker: Breaker | None = None, **kwargs):
        self.breaker = breaker
        super().__init__(*args, **kwargs)

    async def _acquire(self, timeout):
        limits = WEB.get()
        if limits is None or self.breaker is None:
            # background work (relays, handlers, sweepers) is never refused: nobody waits on it, its loop
            # backs off by itself, and a statement it gets answered closes the circuit (Breaker.succeeded)
            return await super()._acquire(timeout)
        self.breaker.check()
        # a wait for a busy pool is not an outage (not counted); a connect that does not finish is
        con = await super()._acquire(limits.acquire_timeout if timeout is None else timeout)
        if self.breaker.state != "closed":
            try:  # the circuit opened while this request queued: refuse now rather than try a dead server
                self.breaker.check()
            except ConnectionError:
                await self.release(con)
                raise
        return con

    async def _get_new_connection(self):
        """A connection refused, lost, timed out, or still not open when the acquire's time ran out (the
        acquire cancels it: a frozen server accepts the socket and never answers) is an outage."""
        try:
            con = await super()._get_new_connection()
        except (asyncio.CancelledError, *OUTAGES) as exc:
            if self.breaker is not None:
                self.breaker.failed(exc)
            raise
        con._ecom_breaker = self.breaker
        return con


async def create_pool(url: str, *, max_size: int, min_size: int = 1, command_timeout: float = 30.0,
                      connect_timeout: float = 60.0, breaker: Breaker | None = None) -> asyncpg.Pool:
    """A pool whose connections are reset only when they carry session state (see PooledConnection),
    with ``breaker`` (per plugin database) in front when given."""
    pool = GuardedPool(url, min_size=min(min_size, max_size), max_size=max_size, command_timeout=command_timeout,
                       timeout=connect_timeout, connection_class=PooledConnection, reset=reset_if_needed,
                       breaker=breaker, max_queries=50000, max_inactive_connection_lifetime=300.0,
                       setup=None, init=None, loop=None, record_class=asyncpg.Record, connect=None)
    await pool
    return pool
