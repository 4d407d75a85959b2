"""Typed keys for the services this plugin provides to the others, and the value types they use.

Other plugins import only this module: ``ADDRESSES`` for the address book, and ``Address`` /
``validate_address`` / ``SavedAddress`` so that checkout checks a one-off ship-to with the same rules.
"""
from aiohttp import web

from .model import Address, validate_address
from .service import AddressesService, SavedAddress

ADDRESSES = web.AppKey("addresses", AddressesService)

__all__ = ["ADDRESSES", "Address", "AddressesService", "SavedAddress", "validate_address"]
