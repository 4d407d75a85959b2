"""The gateway: middlewares every request passes, outermost first."""
from __future__ import annotations

import hashlib
import hmac

from aiohttp import web
from aiohttp_session import session_middleware
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from ..config import Config
from ..i18n.web import language_middleware
from .auth import AUTHENTICATOR, Identity, auth_middleware, identity, login_required, roles_required
from .cors import cors_middleware
from .csrf import csrf_context, csrf_middleware, csrf_token
from .errors import error_middleware, error_response, problem
from .headers import security_headers_hook
from .keys import CONFIG, IDENTITY, RATE_LIMITER, REQUEST_ID, TRUSTED_PROXIES
from .ratelimit import RateLimiter, rate_limit, rate_limit_middleware
from .request_id import client_ip, request_id_middleware

__all__ = ["AUTHENTICATOR", "Identity", "identity", "login_required", "roles_required", "rate_limit",
           "csrf_token", "csrf_context", "CONFIG", "IDENTITY", "REQUEST_ID", "error_response", "problem", "client_ip", "install"]


def install(app: web.Application, config: Config, secret: bytes) -> None:
    """Attach the middlewares and hooks to ``app``."""
    session_key = hmac.new(secret, b"session", hashlib.sha256).digest()
    storage = EncryptedCookieStorage(session_key, cookie_name="ecom_session",
                                     max_age=config.security.session_max_age, httponly=True,
                                     secure=config.security.secure_cookies, samesite="Lax")
    app[CONFIG] = config
    app[TRUSTED_PROXIES] = frozenset(config.server.trusted_proxies)
    app[RATE_LIMITER] = RateLimiter({"default": config.security.rate_limit_per_minute,
                                            "auth": config.security.auth_rate_limit_per_minute})
    app.middlewares.extend([
        request_id_middleware,
        language_middleware,
        error_middleware,
        cors_middleware,
        rate_limit_middleware,
        session_middleware(storage),
        auth_middleware,
        csrf_middleware,
    ])
    app.on_response_prepare.append(security_headers_hook(config))
