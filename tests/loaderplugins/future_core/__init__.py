"""A plugin built for a core this checkout is not: the loader must refuse it with one line."""
from ecom.plugin import Plugin
PLUGIN = Plugin(name="future_core", requires_core=">=0.3", database=False, migrations=None)
