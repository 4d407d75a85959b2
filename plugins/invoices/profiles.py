"""A seller's invoicing details (legal name, tax id, address, country), edited at /seller/invoicing.

A seller who never filled them in still gets invoices: the legal name defaults to their account's name
(from the users service) and the country to ``[plugins.invoices] default_country``. An invoice keeps a
copy of the details it was issued with, so a later edit changes no issued document.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from ecom.errors import NotFound, ValidationFailed
from ecom.i18n import _

from . import db

LIMITS = {"legal_name": 200, "tax_id": 40, "line1": 200, "line2": 200, "city": 100, "postal_code": 20,
          "region": 100, "country": 2}
COUNTRY = re.compile(r"[A-Z]{2}")
TAX_ID = re.compile(r"[A-Za-z0-9 .\-/]*")


class Profiles:
    def __init__(self, pool: Any, users: Any, default_country: str):
        self.pool, self.users, self.default_country = pool, users, default_country

    async def details(self, seller_id: int, conn: Any = None) -> dict[str, str]:
        """What goes on the seller's next invoice (their saved details, else the defaults)."""
        row = await db.profile(conn or self.pool, seller_id)
        if row is not None:
            return {k: (row[k] or "").strip() for k in db.PROFILE_FIELDS}
        try:
            name = (await self.users.get(seller_id)).name
        except NotFound:
            name = ""
        return {"legal_name": name or f"Seller {seller_id}", "tax_id": "", "line1": "", "line2": "", "city": "",
                "postal_code": "", "region": "", "country": self.default_country}

    async def save(self, seller_id: int, form: Mapping[str, Any]) -> dict[str, str]:
        """Check and store the details; ValidationFailed names each wrong field."""
        values, errors = {}, {}
        for field, limit in LIMITS.items():
            raw = form.get(field, "")
            value = raw.strip() if isinstance(raw, str) else None
            if value is None:
                errors[field] = _("Enter text.")
                continue
            if len(value) > limit:
                errors[field] = _("Use at most {n} characters.").format(n=limit)
            values[field] = value
        if "legal_name" not in errors and not values.get("legal_name"):
            errors["legal_name"] = _("Enter the name your invoices are issued in.")
        country = (values.get("country") or "").upper()
        if not COUNTRY.fullmatch(country):  # instead of a length error: say what is expected
            errors["country"] = _("Enter a two-letter country code, such as ES.")
        values["country"] = country
        if "tax_id" not in errors and not TAX_ID.fullmatch(values.get("tax_id", "")):
            errors["tax_id"] = _("Use letters, digits, spaces, dots, dashes or slashes.")
        if errors:
            raise ValidationFailed(_("Some fields need attention."), errors=errors)
        await db.save_profile(self.pool, seller_id, values)
        return values
