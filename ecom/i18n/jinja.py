"""``_()`` and ``gettext()`` for templates: what Jinja's newstyle i18n callables do, in one call instead of three.

Jinja's ``_`` resolves ``gettext`` from the context and calls it through ``Context.call``, which calls our
``gettext`` through ``Context.call`` again, then wraps the text in ``Markup`` and ``%``-formats it. A page
has 30 to 40 such texts (the navbar, the footer, labels), and that chain was about 5% of a catalog page's
worker CPU. The result is the same: the text is Markup (autoescaped templates) and always treated as a
format string (``%%`` for a literal %); a text without placeholders is the same in the same language every
time, so it is kept, per set of translations, after its first use."""
from __future__ import annotations

from typing import Any

from jinja2 import pass_context
from markupsafe import Markup

from . import current_locale  # the package is loaded before this module (install_jinja imports it late)
from .catalogs import CATALOGS

MAX_TEXTS = 5000  # per language: template texts are a bounded set, but _(value) may pass stored strings

_texts: dict[str, tuple[Any, dict[str, Markup]]] = {}  # locale -> (its translations, text -> Markup)


@pass_context
def template_gettext(__context, __string: str, **variables: Any) -> str:
    """``{{ _("Text") }}``, ``{{ _("Hello %(name)s", name=n) }}`` and ``{% trans %}`` blocks."""
    locale = current_locale()
    translations = CATALOGS.translations(locale)
    if variables or not __context.eval_ctx.autoescape:
        rv = translations.gettext(__string)
        if __context.eval_ctx.autoescape:
            rv = Markup(rv)
        return rv % variables
    kept = _texts.get(locale)
    if kept is None or kept[0] is not translations:  # new catalogs (a folder added) start afresh
        kept = _texts[locale] = (translations, {})
    known = kept[1]
    text = known.get(__string)
    if text is None:
        if len(known) >= MAX_TEXTS:
            known.clear()
        text = known[__string] = Markup(translations.gettext(__string)) % {}
    return text


def install(env) -> None:
    """Replace the i18n extension's ``_`` and ``gettext`` (installed first, newstyle) by the one-call version;
    ngettext and pgettext stay Jinja's (a few per page)."""
    env.globals["_"] = template_gettext
    env.globals["gettext"] = template_gettext
