"""/admin/mail (what the embedded sink received) and /account/messages (a customer's own mails).

A mail's HTML is shown in an ``<iframe sandbox srcdoc>``: no script runs, it cannot reach the shop's
cookies or page, and its links open in a new tab (``<base target="_blank">`` plus
``allow-popups-to-escape-sandbox``). The plain text is escaped and its links made clickable.
"""
from __future__ import annotations

import re

from aiohttp import web
from aiohttp_jinja2 import render_template
from markupsafe import Markup, escape

from ecom.errors import NotFound
from ecom.gateway import identity, login_required, roles_required
from ecom.gateway.keys import CONFIG
from ecom.i18n import _
from ecom.mail import maildir
from ecom.mail.process import mail_folder
from ecom.mail.sender import target

from .keys import NOTIFICATIONS

routes = web.RouteTableDef()
URL = re.compile(r"https?://[^\s<>\"']+")
LIST_SIZE = 100


def linkify(text: str) -> Markup:
    """Escaped text whose http(s) links are anchors that open in a new tab, line breaks kept."""
    out, last = [], 0
    for match in URL.finditer(text):
        url = match.group(0).rstrip(".,;:)")
        out += [escape(text[last:match.start()]),
                Markup('<a href="{0}" target="_blank" rel="noopener noreferrer">{0}</a>').format(url)]
        last = match.start() + len(url)
    out.append(escape(text[last:]))
    return Markup("<br>\n").join(Markup("").join(out).split("\n"))


def framed(html: str) -> str:
    """The srcdoc of a mail's HTML: links open outside the sandboxed frame."""
    return '<base target="_blank">' + html


def render(name: str, request: web.Request, context: dict) -> web.Response:
    response = render_template(name, request, {"linkify": linkify, "framed": framed, **context})
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.get("/admin/mail")
@roles_required("admin")
async def admin_mail(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    folder = mail_folder(config)
    return render("notifications/admin_mail.html", request, {
        "mails": maildir.received(folder, LIST_SIZE), "total": maildir.count(folder),
        "embedded": not config.mail.url, "target": target(config.mail).describe()})


@routes.get(r"/admin/mail/{key:[A-Za-z0-9._-]{1,200}}")
@roles_required("admin")
async def admin_mail_one(request: web.Request) -> web.Response:
    mail = maildir.one(mail_folder(request.app[CONFIG]), request.match_info["key"])
    if mail is None:
        raise NotFound(_("No such mail."))
    return render("notifications/admin_mail_one.html", request, {"mail": mail})


@routes.get("/account/messages")
@login_required
async def my_messages(request: web.Request) -> web.Response:
    rows = await request.app[NOTIFICATIONS].for_user(identity(request).user_id)
    return render("notifications/messages.html", request, {"messages": rows})


@routes.get(r"/account/messages/{id:\d{1,18}}")
@login_required
async def my_message(request: web.Request) -> web.Response:
    row = await request.app[NOTIFICATIONS].one_for_user(identity(request).user_id, int(request.match_info["id"]))
    if row is None:
        raise NotFound(_("No such message."))
    return render("notifications/message.html", request, {"message": row})
