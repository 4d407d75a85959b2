from ecom.plugin import Plugin
PLUGIN = Plugin(name="broken_mig")
