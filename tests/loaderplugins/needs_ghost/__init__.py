from ecom.plugin import Plugin
PLUGIN = Plugin(name="needs_ghost", requires=("ghost",))
