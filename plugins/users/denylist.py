"""Passwords nobody should use: the 10,000 most common ones, the email's local part and the user's name.

``common-passwords.txt.gz`` is the first 10,000 lines of Django's
``django/contrib/auth/common-passwords.txt.gz`` (Django 5.1.4, BSD licence; Django took it from Royce
Williams' list of leaked passwords). It is read once, on first use, into a frozenset (~1 MB).
"""
from __future__ import annotations

import functools
import gzip
import re
from pathlib import Path

from ecom.i18n import N_

COMMON = N_("This password is one of the most common passwords: choose another.")
LIKE_EMAIL = N_("The password must not be your email or close to it.")
LIKE_NAME = N_("The password must not be your name or close to it.")
LIST_FILE = Path(__file__).with_name("common-passwords.txt.gz")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


@functools.cache
def common_passwords() -> frozenset[str]:
    with gzip.open(LIST_FILE, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip().lower() for line in lines if line.strip())


def _squash(text: str) -> str:
    """Lower case, letters and digits only: 'Ana.Silva' and 'anasilva' are the same guess."""
    return _NOT_ALNUM.sub("", text.lower())


def password_problem(password: str, email: str = "", name: str = "") -> str | None:
    """Why ``password`` is too easy to guess (an English msgid: translate it where shown), or None.
    ``email`` and ``name`` are the account's own."""
    lowered = password.strip().lower()
    if lowered in common_passwords():
        return COMMON
    squashed = _squash(password)
    personal = {(LIKE_EMAIL, _squash(email.partition("@")[0])), (LIKE_EMAIL, _squash(email)),
                (LIKE_NAME, _squash(name))}
    for what, value in personal:
        if len(value) >= 3 and (squashed == value or (value in squashed and len(squashed) - len(value) <= 3)):
            return what
    return None
