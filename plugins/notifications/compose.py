"""Render one message (subject, plain text, HTML) in the recipient's language and time zone.

Templates are ordinary Jinja templates of the plugin, ``notifications/mail/<kind>.txt`` and ``.html``,
rendered with the app's environment (so a file of the same name in the site's ``templates/`` overrides
them, and gettext, money and date filters work). Rendering happens inside ``use_locale(locale, tz)``:
a mail is written in its reader's language whatever request or worker produced it.
"""
from __future__ import annotations

import email.utils
from dataclasses import dataclass
from typing import Any

import jinja2

from ecom.i18n import N_, _, current_locale, use_locale

SUBJECTS = {
    "email_verification": N_("Confirm your email address"),
    "password_reset": N_("Reset your password"),
    "password_changed": N_("Your password was changed"),
    "order_placed": N_("We received your order {order}"),
    "order_paid": N_("Your order {order} is paid"),
    "payment_failed": N_("The payment for your order {order} failed"),
    "shipment_shipped": N_("Your order {order} is on its way"),
    "shipment_delivered": N_("Your order {order} was delivered"),
    "order_refunded": N_("A refund for your order {order}"),
    "seller_new_order": N_("New order to fulfil: {order}"),
    "low_stock": N_("Low stock: product {product} in {region}"),
}


@dataclass(frozen=True)
class Rendered:
    locale: str
    subject: str
    text: str
    html: str


class Composer:
    def __init__(self, env: jinja2.Environment, base_url: str, sender: str):
        self.env, self.base_url, self.sender = env, base_url.rstrip("/"), sender

    def link(self, path: str) -> str:
        """An absolute link for a mail (the reader is not on the shop's page)."""
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"

    def render(self, kind: str, locale: str | None, time_zone: str | None, **context: Any) -> Rendered:
        with use_locale(locale, time_zone):
            values = {"shop_url": self.link("/"), **context}
            fields = {k: v for k, v in context.items() if isinstance(v, (str, int))}
            if hasattr(context.get("order"), "id"):
                fields["order"] = context["order"].id  # subjects name the order by its number
            subject = _(SUBJECTS[kind]).format(**fields)
            text = self._template(kind, "txt").render(values)
            html = self._template(kind, "html").render(subject=subject, **values)
            return Rendered(current_locale(), subject, text.strip() + "\n", html)

    def _template(self, kind: str, suffix: str) -> jinja2.Template:
        """A shop's own mail for one language wins (templates/notifications/mail/es/order_paid.html), then
        its own for every language (templates/notifications/mail/order_paid.html), then ours."""
        return self.env.select_template([f"notifications/mail/{current_locale()}/{kind}.{suffix}",
                                         f"notifications/mail/{kind}.{suffix}"])

    def message_id(self) -> str:
        domain = email.utils.parseaddr(self.sender)[1].partition("@")[2] or "localhost"
        return email.utils.make_msgid("ecom", domain=domain)
