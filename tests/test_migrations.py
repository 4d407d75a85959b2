"""Per-plugin databases and numbered migrations: once each, checksummed, under an advisory lock."""
import asyncio

import asyncpg
import pytest

from ecom import db
from ecom.app import migrate_all, plugin_database_url
from ecom.plugin import load_plugins


def alpha_config(make_config, **kw):
    return make_config(fresh=True, plugins={"enabled": ["alpha"], "paths": ["tests/loaderplugins"]}, **kw)


async def test_database_created_and_migrations_recorded(make_config):
    cfg = alpha_config(make_config)
    applied = await migrate_all(cfg, load_plugins(cfg))
    assert applied["alpha"] == ["core:0001_events.sql", "core:0002_dead_letters_and_cursors.sql", "alpha:0001_things.sql", "alpha:0002_more.sql"]
    url = plugin_database_url(cfg, "alpha")
    assert db.database_name(url) == f"{cfg.database.name_prefix}_alpha"
    conn = await asyncpg.connect(url)
    try:
        keys = [r["key"] for r in await conn.fetch("SELECT key FROM schema_migrations ORDER BY applied_at, key")]
        assert set(keys) == set(applied["alpha"])
        assert await conn.fetchval("SELECT count(*) FROM information_schema.columns WHERE table_name='things'") == 3
    finally:
        await conn.close()
    assert (await migrate_all(cfg, load_plugins(cfg)))["alpha"] == []  # nothing twice


async def test_concurrent_migrators_apply_each_migration_once(make_config):
    cfg = alpha_config(make_config)
    loaded = load_plugins(cfg)
    results = await asyncio.gather(*(migrate_all(cfg, loaded) for _ in range(5)))
    applied = [key for r in results for key in r["alpha"]]
    assert sorted(applied) == sorted(["core:0001_events.sql", "core:0002_dead_letters_and_cursors.sql", "alpha:0001_things.sql", "alpha:0002_more.sql"])


async def test_edited_applied_migration_is_an_error(make_config, tmp_path):
    folder = tmp_path / "migs"
    folder.mkdir()
    (folder / "0001_a.sql").write_text("CREATE TABLE a (id int);")
    cfg = make_config(fresh=True)
    url = db.database_url(cfg.database.url, f"{cfg.database.name_prefix}_edited")
    await db.ensure_database(url)
    conn = await asyncpg.connect(url)
    try:
        assert await db.migrate(conn, db.read_migrations(folder, "x")) == ["x:0001_a.sql"]
        (folder / "0001_a.sql").write_text("CREATE TABLE a (id bigint);")
        with pytest.raises(db.MigrationError, match="0001_a.sql was edited"):
            await db.migrate(conn, db.read_migrations(folder, "x"))
    finally:
        await conn.close()


async def test_failing_migration_leaves_nothing_behind(make_config):
    cfg = make_config(fresh=True, plugins={"enabled": ["broken_mig"], "paths": ["tests/loaderplugins"]})
    with pytest.raises(db.MigrationError, match="broken_mig: migration 0001_oops.sql failed"):
        await migrate_all(cfg, load_plugins(cfg))
    conn = await asyncpg.connect(plugin_database_url(cfg, "broken_mig"))
    try:
        keys = {r["key"] for r in await conn.fetch("SELECT key FROM schema_migrations")}
        assert keys == {"core:0001_events.sql", "core:0002_dead_letters_and_cursors.sql"}
    finally:
        await conn.close()


def test_badly_named_migration_file(tmp_path):
    (tmp_path / "1_first.sql").write_text("SELECT 1;")
    with pytest.raises(db.MigrationError, match="NNNN_description.sql"):
        db.read_migrations(tmp_path, "x")


def test_pool_size_fits_max_connections():
    assert db.pool_size(200, 3, 5, 10) == 10
    size = db.pool_size(100, 3, 5, 10)
    assert 3 * 5 * size <= 100 - 10 and size >= db.MIN_POOL
    from ecom.config import ConfigError
    with pytest.raises(ConfigError, match="max_connections"):
        db.pool_size(100, 20, 5, 10)
