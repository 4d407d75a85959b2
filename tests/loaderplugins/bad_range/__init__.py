"""A plugin whose requires_core is not a PEP 440 range: one line, naming it."""
from ecom.plugin import Plugin
PLUGIN = Plugin(name="bad_range", requires_core="0.2 or newer", database=False, migrations=None)
