"""The notifications plugin end to end: a users event (emitted through the users plugin's real outbox)
becomes a message row, the relay sends it by SMTP to a real sink on a free port, in the reader's
language; sends that fail are retried with back-off and delivered once; two relays on the same table
send each message once; /admin/mail and /account/messages show what they should to whom they should."""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ecom.app import EVENT_BUS, POOLS
from ecom.config import PluginsConfig
from ecom.events import Envelope, PluginEvents, current_envelope
from ecom.mail import maildir
from ecom.mail.sink import SmtpSink
from plugins.notifications.keys import NOTIFICATIONS, RELAY
from plugins.notifications.service import Person
from plugins.users.events import PasswordResetRequested
from tests.conftest import free_port
from tests.helpers import account, start, wait_until, worker

ENABLED = [*dict.fromkeys([*PluginsConfig().enabled, "notifications"])]
FAST = {"poll_seconds": 0.1, "retry_base_seconds": 0.2, "base_url": "https://shop.example"}


def notifications_config(make_config, port: int, **mail):
    return make_config(mail={"embedded_port": port, **mail},
                       plugins={"enabled": ENABLED, "notifications": FAST})


@pytest.fixture
async def sink(tmp_path):
    """The SMTP sink on a free port, writing where the app's /admin/mail reads (<data_dir>/mail)."""
    server = SmtpSink("127.0.0.1", free_port(), tmp_path / "data" / "mail")
    await server.start()
    yield server
    await server.stop()


async def reset_requested(client, user_id: int, email: str, locale: str = "es") -> None:
    """What users emits when a password reset is asked for, through its own outbox."""
    events = PluginEvents(client.app[EVENT_BUS], "users", client.app[POOLS]["users"])
    expires = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    async with client.app[POOLS]["users"].acquire() as conn, conn.transaction():
        await events.emit(conn, PasswordResetRequested(user_id, email, "Ana", locale, "Europe/Madrid",
                                                       "/password/reset?token=tok123", expires))


async def rows_for(client, email: str):
    return await client.app[POOLS]["notifications"].fetch(
        "SELECT * FROM messages WHERE recipient = $1 ORDER BY id", email)


def mails_to(folder, email: str):
    return [m for m in maildir.received(folder, 1000) if m.to == email]


async def test_password_reset_mail_is_spanish_for_a_spanish_reader(aiohttp_client, make_config, sink):
    client = await start(aiohttp_client, notifications_config(make_config, sink.port))
    email = f"ana{uuid.uuid4().hex[:8]}@example.com"
    await reset_requested(client, 4242, email, "es")
    rows = await wait_until(lambda: rows_for(client, email), lambda r: r and r[0]["status"] == "sent", "the mail sent")
    assert (rows[0]["kind"], rows[0]["locale"], rows[0]["user_id"], rows[0]["attempts"]) == ("password_reset", "es", 4242, 1)
    [mail] = mails_to(sink.folder, email)
    assert mail.subject == "Restablece tu contraseña"
    assert "Hola Ana:" in mail.text and "https://shop.example/password/reset?token=tok123" in mail.text
    assert 'href="https://shop.example/password/reset?token=tok123"' in mail.html and 'lang="es"' in mail.html
    await reset_requested(client, 4243, "en-" + email, "en")
    await wait_until(lambda: rows_for(client, "en-" + email), lambda r: r and r[0]["status"] == "sent", "the English one")
    assert [m.subject for m in mails_to(sink.folder, "en-" + email)] == ["Reset your password"]


async def test_a_failing_send_is_retried_and_delivered_once(aiohttp_client, make_config, tmp_path):
    port = free_port()  # nothing listens there yet: every attempt fails until the sink starts
    client = await start(aiohttp_client, notifications_config(make_config, port))
    email = f"retry{uuid.uuid4().hex[:8]}@example.com"
    await reset_requested(client, 77, email)
    rows = await wait_until(lambda: rows_for(client, email), lambda r: r and r[0]["attempts"] >= 2,
                            "two failed attempts")
    assert rows[0]["status"] == "pending" and "Error" in rows[0]["last_error"]
    assert rows[0]["next_attempt_at"] > rows[0]["created_at"]  # backed off, not retried in a busy loop
    late = SmtpSink("127.0.0.1", port, tmp_path / "data" / "mail")
    await late.start()
    try:
        rows = await wait_until(lambda: rows_for(client, email), lambda r: r[0]["status"] == "sent", "delivery")
        assert rows[0]["attempts"] >= 3 and rows[0]["last_error"] is None
        assert len(mails_to(late.folder, email)) == 1
    finally:
        await late.stop()


async def test_a_mail_that_keeps_failing_is_given_up_and_logged_once(aiohttp_client, make_config, caplog):
    caplog.set_level(logging.INFO, logger="ecom.plugins.notifications")
    client = await start(aiohttp_client, notifications_config(make_config, free_port(), max_attempts=3))
    email = f"never{uuid.uuid4().hex[:8]}@example.com"
    await reset_requested(client, 78, email)
    rows = await wait_until(lambda: rows_for(client, email), lambda r: r and r[0]["status"] == "failed", "giving up")
    assert rows[0]["attempts"] == 3
    given_up = [r for r in caplog.records if "given up" in r.getMessage() and f"mail {rows[0]['id']} " in r.getMessage()]
    assert len(given_up) == 1 and given_up[0].levelno == logging.WARNING


async def test_two_relays_send_each_message_once_and_a_replayed_event_makes_no_second_mail(
        aiohttp_client, make_config, sink):
    config = notifications_config(make_config, sink.port)
    first = await start(aiohttp_client, config)
    second = await start(aiohttp_client, worker(config, "second"))
    service = first.app[NOTIFICATIONS]
    emails = [f"many{i}-{uuid.uuid4().hex[:6]}@example.com" for i in range(40)]
    env = Envelope.wrap(PasswordResetRequested(1, "x@example.com", "X", "en", "UTC", "/", "2030-01-01T00:00:00+00:00"))
    token = current_envelope.set(env)  # as inside an event handler: the dedupe key names this event
    try:
        async with first.app[POOLS]["notifications"].acquire() as conn, conn.transaction():
            for email in emails:
                assert await service.queue(conn, "password_changed", Person(None, email, "Many"),
                                           at=datetime.now(timezone.utc), forgot_url="https://shop.example/p")
            assert await service.queue(conn, "password_changed", Person(None, emails[0], "Many"),
                                       at=datetime.now(timezone.utc), forgot_url="x") is None  # replayed
    finally:
        current_envelope.reset(token)
    pool = first.app[POOLS]["notifications"]
    await wait_until(lambda: pool.fetchval("SELECT count(*) FROM messages WHERE recipient = ANY($1) AND status = 'sent'",
                                           emails), lambda n: n == 40, "all 40 sent")
    received = [m for m in maildir.received(sink.folder, 1000) if m.to in emails]
    assert sorted(m.to for m in received) == sorted(emails)  # each exactly once
    assert first.app[RELAY].sent + second.app[RELAY].sent >= 40


async def test_admin_mail_shows_what_the_sink_received_to_admins_only(aiohttp_client, make_config, sink):
    client = await start(aiohttp_client, notifications_config(make_config, sink.port))
    _, _, admin = await account(client, admin=True)
    _, _, customer = await account(client)
    email = f"seen{uuid.uuid4().hex[:8]}@example.com"
    await reset_requested(client, 9, email, "en")
    await wait_until(lambda: rows_for(client, email), lambda r: r and r[0]["status"] == "sent", "the mail sent")
    [mail] = mails_to(sink.folder, email)
    as_admin = {"Authorization": f"Bearer {admin}"}
    page = await client.get("/admin/mail", headers=as_admin)
    assert page.status == 200 and email in await page.text() and f"/admin/mail/{mail.key}" in await page.text()
    one = await client.get(f"/admin/mail/{mail.key}", headers=as_admin)
    body = await one.text()
    assert one.status == 200 and 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in body
    assert "srcdoc=\"&lt;base target=&#34;_blank&#34;&gt;" in body and "<script" not in body.split("srcdoc")[1][:2000]
    assert '<a href="https://shop.example/password/reset?token=tok123" target="_blank"' in body  # the text part
    assert (await client.get("/admin/mail", headers={"Authorization": f"Bearer {customer}"})).status == 403
    assert (await client.get(f"/admin/mail/{mail.key}", headers={"Authorization": f"Bearer {customer}"})).status == 403
    assert (await client.get("/admin/mail/nope", headers=as_admin)).status == 404


async def test_account_messages_show_only_ones_own(aiohttp_client, make_config, sink):
    client = await start(aiohttp_client, notifications_config(make_config, sink.port))
    ana_id, ana_email, ana = await account(client)
    bob_id, bob_email, bob = await account(client)
    await reset_requested(client, ana_id, ana_email, "en")
    await reset_requested(client, bob_id, bob_email, "es")
    for email in (ana_email, bob_email):
        await wait_until(lambda: rows_for(client, email), lambda r: any(x["kind"] == "password_reset" for x in r),
                         "the reset mail")
    ana_rows = [r for r in await rows_for(client, ana_email) if r["kind"] == "password_reset"]
    bob_rows = [r for r in await rows_for(client, bob_email) if r["kind"] == "password_reset"]
    page = await client.get("/account/messages", headers={"Authorization": f"Bearer {ana}"})
    text = await page.text()
    assert page.status == 200 and f"/account/messages/{ana_rows[0]['id']}" in text
    assert f"/account/messages/{bob_rows[0]['id']}" not in text and bob_email not in text
    mine = await client.get(f"/account/messages/{ana_rows[0]['id']}", headers={"Authorization": f"Bearer {ana}"})
    assert mine.status == 200 and "Reset your password" in await mine.text()
    theirs = await client.get(f"/account/messages/{bob_rows[0]['id']}", headers={"Authorization": f"Bearer {ana}"})
    assert theirs.status == 404
    spanish = await client.get("/account/messages", headers={"Authorization": f"Bearer {bob}"})
    assert "Restablece tu contraseña" in await spanish.text()
    assert (await client.get("/account/messages", allow_redirects=False)).status in (302, 303, 401)


async def test_every_kind_renders_in_english_and_spanish(aiohttp_client, make_config, sink):
    """Each message kind's subject, text and HTML (the app's Jinja env, the reader's locale and zone)."""
    from types import SimpleNamespace as NS

    from plugins.notifications.compose import SUBJECTS
    client = await start(aiohttp_client, notifications_config(make_config, sink.port))
    composer = client.app[NOTIFICATIONS].composer
    line = NS(name="Taza <azul>", quantity=2, line_total_cents=2420)
    order = NS(id="ord_X1", total_cents=2420, currency="EUR")
    at = datetime(2030, 1, 31, 23, 30, tzinfo=timezone.utc)
    context = {"url": composer.link("/x?token=t&u=1"), "expires_at": at, "at": at, "forgot_url": composer.link("/f"),
               "order": order, "items": [line], "order_url": composer.link("/orders/ord_X1"), "carrier": "DHL",
               "tracking_number": "JD1", "amount_cents": 1210, "currency": "EUR", "orders_url": composer.link("/s"),
               "product": "12", "region": "eu-west", "available": 4, "threshold": 5,
               "stock_url": composer.link("/seller/inventory")}
    for kind in SUBJECTS:
        en = composer.render(kind, "en", "UTC", name="Ana", **context)
        es = composer.render(kind, "es", "Europe/Madrid", name="Ana", **context)
        assert en.locale == "en" and es.locale == "es" and en.subject != es.subject, kind
        assert "Hello Ana," in en.text and "Hola Ana:" in es.text and 'lang="es"' in es.html, kind
        assert "{" not in en.subject + es.subject and "%(" not in en.text + es.text + es.html, kind
        if kind in ("order_placed", "order_paid", "seller_new_order"):
            assert "Taza <azul>" in en.text and "Taza &lt;azul&gt;" in en.html and "24,20\xa0€" in es.text, kind
    reset = composer.render("password_reset", "es", "Europe/Madrid", name="Ana", **context)
    assert "https://shop.example/x?token=t&u=1" in reset.text and "1 feb 2030" in reset.text  # Madrid: past midnight


def test_a_shop_may_write_its_own_mail_for_one_language():
    """templates/notifications/mail/<lang>/<kind>.* wins for that language; the others keep ours."""
    import jinja2

    from ecom import i18n
    from plugins.notifications import compose
    from plugins.notifications.compose import Composer
    i18n.configure(("en", "es"), "en", "UTC")
    i18n.add_catalog_folder(Path(compose.__file__).parent / "locale")
    env = jinja2.Environment(loader=jinja2.DictLoader({
        "notifications/mail/password_reset.txt": "Ours: {{ url }}",
        "notifications/mail/password_reset.html": "<p>Ours</p>",
        "notifications/mail/es/password_reset.txt": "La nuestra, escrita a mano: {{ url }}",
        "notifications/mail/es/password_reset.html": "<p>La nuestra</p>"}), autoescape=True)
    i18n.install_jinja(env)
    composer = Composer(env, "https://shop.example", "shop@example.com")
    spanish = composer.render("password_reset", "es", None, url="https://shop.example/r")
    english = composer.render("password_reset", "en", None, url="https://shop.example/r")
    assert spanish.text == "La nuestra, escrita a mano: https://shop.example/r\n" and spanish.html == "<p>La nuestra</p>"
    assert english.text == "Ours: https://shop.example/r\n" and spanish.subject == "Restablece tu contraseña"
