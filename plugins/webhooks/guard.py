"""Which URLs the shop may call (SSRF): a webhook URL is typed by a seller, so it must not reach the
shop's own network (its database, broker, metrics, a cloud metadata service) unless the operator says so.

Rules: ``https://`` only; plain ``http://`` only to a loopback host and only with ``allow_loopback_http``
(dev and tests). An address that is loopback, private, link-local, reserved, multicast or unspecified is
refused unless ``allow_private_addresses`` (loopback also with ``allow_loopback_http``). The check runs
when an endpoint is registered AND on every connection: :class:`GuardedResolver` filters what DNS answers
at send time, so a name that later resolves to 10.0.0.5 (DNS rebinding) is refused too. No redirects
are followed (a 3xx is a failed attempt).
"""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from ecom.i18n import _

from .config import WebhooksConfig

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}


class Refused(ValueError):
    """A URL or address the shop will not call; ``str()`` says why, in the reader's language."""


def address_allowed(address: str, config: WebhooksConfig) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if ip.is_loopback:
        return config.allow_loopback_http or config.allow_private_addresses
    if ip.is_private or ip.is_link_local or ip.is_reserved or ip.is_multicast or ip.is_unspecified:
        return config.allow_private_addresses
    return True


def check_url(url: str, config: WebhooksConfig) -> str:
    """``url`` when the shop may call it; Refused otherwise."""
    if len(url) > 2000 or not url.isprintable():
        raise Refused(_("The URL is too long or has invisible characters."))
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise Refused(_("This is not a valid URL.")) from None
    if not host or parts.username or parts.password:
        raise Refused(_("The URL needs a host name and no user name or password."))
    if parts.scheme == "http":
        if not (config.allow_loopback_http and host in LOOPBACK_NAMES):
            raise Refused(_("Use an https:// URL."))
    elif parts.scheme != "https":
        raise Refused(_("Use an https:// URL."))
    if host != "localhost" and _is_literal(host) and not address_allowed(host, config):
        raise Refused(_("This address is on a private or local network."))
    if host == "localhost" and not (config.allow_loopback_http or config.allow_private_addresses):
        raise Refused(_("This address is on a private or local network."))
    return url


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


class GuardedResolver(AbstractResolver):
    """DNS answers with the refused addresses taken out; no address left is a connection error."""

    def __init__(self, config: WebhooksConfig):
        self.config, self.inner = config, DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        found = await self.inner.resolve(host, port, family)
        allowed = [r for r in found if address_allowed(r["host"], self.config)]
        if not allowed:
            raise OSError(f"{host} resolves only to private or local addresses")
        return allowed

    async def close(self) -> None:
        await self.inner.close()
