"""A plugin whose shutdown never ends (a task it awaits that never finishes): the core goes on after
[server] shutdown_timeout with one log line instead of hanging the process."""
import asyncio

from ecom.plugin import Plugin

STOPPED: list[str] = []


async def lifespan(ctx):
    yield
    STOPPED.append("stuck_stop: shutdown began")
    await asyncio.Event().wait()  # never set


PLUGIN = Plugin(name="stuck_stop", lifespan=lifespan, database=False, migrations=None, templates=None,
                static=None)
