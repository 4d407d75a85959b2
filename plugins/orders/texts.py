"""The human texts the order page's script (static/order-live.js) shows, translated for the reader and
rendered into the page as JSON: scripts carry no text of their own (every language is the server's)."""
from __future__ import annotations

from ecom.i18n import _

from .models import LABELS


def live_texts() -> dict:
    """Status labels, the progress steps' hints and the cancel button's paid wording, in the current language."""
    return {"labels": {status: _(label) for status, label in LABELS.items()}, "next": _("(next)"),
            "done": _("(done)"), "cancel_refund": _("Cancel order and refund")}
