from ecom.plugin import Plugin
PLUGIN = Plugin(name="cyc_a", requires=("cyc_b",))
