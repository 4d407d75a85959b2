"""A review and a product's rating summary as the service hands them out, and the checks a new review
passes (the same for the API and the form page, so they cannot disagree)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ecom.errors import ValidationFailed
from ecom.i18n import _


@dataclass(frozen=True)
class Review:
    id: int
    product_id: int
    seller_id: int
    customer_id: int
    author: str
    rating: int
    text: str
    hidden: bool              # by a moderator
    verified: bool            # its author still has a delivery of the product that was not refunded
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row) -> "Review":
        return cls(row["id"], row["product_id"], row["seller_id"], row["customer_id"], row["author"],
                   row["rating"], row["body"], row["hidden"], row["verified"], row["created_at"],
                   row["updated_at"])

    def public(self) -> dict[str, Any]:
        """What anyone may read: no customer id (the author's name as they signed it is enough)."""
        return {"id": self.id, "product_id": self.product_id, "author": self.author, "rating": self.rating,
                "text": self.text, "created_at": self.created_at.isoformat(),
                "updated_at": self.updated_at.isoformat()}


@dataclass(frozen=True)
class Summary:
    """A product's visible reviews in two numbers; ``average`` is None while there are none."""
    count: int = 0
    average: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "average": self.average}


def checked(rating: Any, text: Any, max_text: int) -> tuple[int, str]:
    """(rating, text) when they are a review, else ValidationFailed naming each bad field."""
    errors = {}
    if isinstance(rating, str) and rating.strip().isdigit():
        rating = int(rating)
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        errors["rating"] = _("Choose from 1 to 5 stars.")
    text = "" if text is None else text
    if not isinstance(text, str):
        errors["text"] = _("The review must be text.")
    else:
        text = text.replace("\r\n", "\n").strip()
        if len(text) > max_text:
            errors["text"] = _("Use at most {count} characters.").format(count=max_text)
        elif "\x00" in text:
            errors["text"] = _("The review must be text.")
    if errors:
        raise ValidationFailed(_("Check the review."), errors=errors)
    return rating, text
