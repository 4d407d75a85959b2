from aiohttp import web

from ecom.plugin import Plugin

routes = web.RouteTableDef()
STARTED: list[str] = []


@routes.get("/alpha")
async def alpha(request: web.Request) -> web.Response:
    return web.json_response({"plugin": "alpha"})


async def lifespan(ctx):
    STARTED.append("alpha")
    yield
    STARTED.append("alpha-stopped")

PLUGIN = Plugin(name="alpha", lifespan=lifespan, routes=routes)
