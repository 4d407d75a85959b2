"""A test-only plugin exercising the gateway: forms, JSON, errors, rate limits."""
from aiohttp import web

from ecom.errors import ValidationFailed
from ecom.gateway import csrf_token, rate_limit
from ecom.plugin import Plugin

routes = web.RouteTableDef()


@routes.get("/gw/form")
async def form(request: web.Request) -> web.Response:
    return web.Response(text=await csrf_token(request))


@routes.post("/gw/form")
async def submit(request: web.Request) -> web.Response:
    data = await request.post()
    return web.Response(text=f"got {data.get('thing', '')}")


@routes.post("/api/v1/gw/echo")
async def echo(request: web.Request) -> web.Response:
    return web.json_response(await request.json())


@routes.get("/gw/boom")
@routes.get("/api/v1/gw/boom")
async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("secret internals 4242424242424242")


@routes.get("/api/v1/gw/invalid")
async def invalid(request: web.Request) -> web.Response:
    raise ValidationFailed("Check the fields.", errors={"name": "is required"})


@routes.get("/gw/redirect")
async def redirect(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/gw/form")


@routes.post("/api/v1/gw/login")
@rate_limit("auth")
async def login(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})

PLUGIN = Plugin(name="gwtest", routes=routes, database=False)
