"""Test-only plugin: a slot naming a template that does not exist (start-up must refuse it in one line)."""
from ecom.plugin import Plugin
from ecom.slots import Slot

PLUGIN = Plugin(name="slotbad", migrations=None, database=False, static=None, templates=None,
                slots=[Slot("product.details", "slotbad/missing.html")])
