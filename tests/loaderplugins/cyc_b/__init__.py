from ecom.plugin import Plugin
PLUGIN = Plugin(name="cyc_b", requires=("cyc_a",))
