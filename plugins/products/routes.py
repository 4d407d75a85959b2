"""HTTP <-> ProductsService (the API and pages follow)."""
from aiohttp import web

routes = web.RouteTableDef()
