"""Test-only plugin: a product.details slot at the same ``order`` as slota's (the tie-break), and a navbar
slot with a context function (run before the page's handler: nothing fills the navbar but the core)."""
from ecom.gateway import identity
from ecom.plugin import Plugin
from ecom.slots import Slot


async def nav(request):
    who = identity(request)
    return {"user_id": who.user_id} if who else None


PLUGIN = Plugin(name="slotb", migrations=None, database=False, static=None,
                slots=[Slot("product.details", "slotb/details.html", order=50),
                       Slot("navbar", "slotb/nav.html", nav, order=5)])
