from aiohttp import web

from ecom.plugin import Plugin

routes = web.RouteTableDef()


@routes.get("/alpha")
async def also_alpha(request: web.Request) -> web.Response:
    return web.Response(text="clash")

PLUGIN = Plugin(name="clash", routes=routes)
