"""JSON Schemas of the orders API's answers (views.order_json), for the OpenAPI document.

Kept apart from routes.py so that the shape is read in one place; the fuzz run (tests/test_fuzz.py)
holds the answers to them, so every field that may be null says so.
"""
from __future__ import annotations

INT = {"type": "integer"}
STR = {"type": "string"}
NSTR = {"type": ["string", "null"]}
RATE = {"type": ["string", "null"], "pattern": r"^\d+(\.\d+)?$",
        "description": "Tax rate in percent as an exact decimal (\"21\", \"10.5\"); null for orders placed "
                       "before rates were recorded."}
HISTORY = {"type": "object", "properties": {
    "status": STR, "previous": NSTR, "actor": STR, "reason": {"type": "string", "description":
                                                              "An English sentence; pages show it translated."},
    "at": {"type": "string", "format": "date-time"}}}
ADDRESS = {"type": ["object", "null"], "description": "The copy taken at checkout (name, company, line1, line2, "
           "city, region, postal_code, country, phone); anonymised once the customer's account is deleted."}
LINE = {"type": "object", "properties": {
    "product_id": INT, "seller_id": INT, "name": STR, "unit_price_cents": INT, "quantity": INT,
    "line_total_cents": INT}, "description": "As the API always showed them: the line's shipment, discount, "
        "tax and tax rate are in ``shipments[].lines``."}
SHIPMENT = {"type": "object", "properties": {
    "no": INT, "seller_id": INT, "region": STR, "status": {"enum": ["pending", "fulfilled", "shipped", "delivered",
                                                                    "cancelled", "refunded"]},
    "method": STR, "shipping_cents": INT, "shipping_tax_cents": INT, "shipping_tax_rate": RATE, "carrier": NSTR,
    "tracking_number": NSTR, "refund_cents": {"type": ["integer", "null"]},
    "lines": {"type": "array", "items": {"type": "object", "properties": {
        "product_id": INT, "quantity": INT, "discount_cents": INT, "tax_cents": INT, "tax_rate": RATE}}},
    "history": {"type": "array", "items": HISTORY}}}
ORDER = {"type": "object", "required": ["id", "status", "total_cents", "currency", "lines", "shipments"],
         "properties": {
    "id": STR, "status": STR, "total_cents": INT, "currency": STR, "region": STR,
    "lines": {"type": "array", "items": LINE}, "shipments": {"type": "array", "items": SHIPMENT},
    "ship_to": ADDRESS, "bill_to": ADDRESS, "email": NSTR, "voucher_code": NSTR,
    "subtotal_cents": INT, "discount_cents": INT, "shipping_cents": INT, "tax_cents": INT,
    "prices_include_tax": {"type": "boolean"},
    "created_at": STR, "updated_at": STR, "expires_at": NSTR, "customer_id": {"type": ["integer", "null"]},
    "card": {"type": ["object", "null"]}, "failure_reason": NSTR, "view": {"enum": ["full", "seller"]},
    "locale": {"type": ["string", "null"], "description": "The buyer's language at checkout (null: placed "
                                                          "before it was recorded)."},
    "history": {"type": "array", "items": HISTORY}}}
ORDER_LIST = {"type": "array", "items": ORDER}
