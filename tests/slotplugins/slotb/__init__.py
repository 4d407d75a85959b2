"""Test-only plugin: one product.details slot at the same ``order`` as slota's, to check the tie-break."""
from ecom.plugin import Plugin
from ecom.slots import Slot

PLUGIN = Plugin(name="slotb", migrations=None, database=False, static=None,
                slots=[Slot("product.details", "slotb/details.html", order=50)])
