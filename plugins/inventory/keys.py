"""Typed keys for the services this plugin provides to the others (and the values they return)."""
from aiohttp import web

from .imports import ImportService
from .models import OutOfStock, Reservation, Stock  # noqa: F401 - for callers of the service
from .service import InventoryService

INVENTORY = web.AppKey("inventory", InventoryService)
IMPORTS = web.AppKey("inventory.imports", ImportService)

__all__ = ["INVENTORY", "IMPORTS", "InventoryService", "ImportService", "OutOfStock", "Reservation", "Stock"]
