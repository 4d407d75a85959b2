"""Client id prefixes: which kind of client an MQTT client id names. Kept apart from acl.py (which needs
amqtt) so that app workers, which only connect to a broker, never import the broker library (~2.5 MB each)."""
from __future__ import annotations

TOOL_PREFIX = "ecom-tool-"
APP_PREFIX = "ecom-app-"
