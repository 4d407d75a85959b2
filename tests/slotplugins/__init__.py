"""Test-only plugins that fill the shop's page slots (ecom/slots.py), loaded by the normal loader."""
