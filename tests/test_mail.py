"""ecom.mail: the embedded sink keeps what it receives in a Maildir, the sender reaches it, the sink's
child process starts and stops, a busy port is one line (and the shop would run on), and the SMTP target
read from [mail] url never shows its credentials."""
from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from email.message import EmailMessage

import pytest

from ecom.config import MailConfig
from ecom.mail import maildir
from ecom.mail.process import SinkProcess
from ecom.mail.sender import SendError, Session, SmtpTarget, send, target
from ecom.mail.sink import SmtpSink
from tests.conftest import ROOT, free_port


def _mail(subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "shop@localhost", "ana@example.com", subject
    msg.set_content("Plain text: https://shop.example/x?a=1&b=2")
    msg.add_alternative("<p>HTML <a href='https://shop.example/x'>link</a></p>", subtype="html")
    return msg


async def test_sink_keeps_mails_newest_first(tmp_path):
    sink = SmtpSink("127.0.0.1", free_port(), tmp_path / "mail")
    await sink.start()
    try:
        to = SmtpTarget("127.0.0.1", sink.port)
        await send(to, _mail("first"), timeout=10)
        await asyncio.sleep(0.02)  # distinct mtimes order them
        await send(to, _mail("second"), timeout=10)
    finally:
        await sink.stop()
    got = maildir.received(tmp_path / "mail")
    for path in [tmp_path / "mail", *(tmp_path / "mail").rglob("*")]:  # mails hold reset links: the shop's alone
        assert path.stat().st_mode & 0o777 == (0o700 if path.is_dir() else 0o600), path
    assert [m.subject for m in got] == ["second", "first"]
    assert "a=1&b=2" in got[0].text and "<a href='https://shop.example/x'>" in got[0].html
    assert maildir.one(tmp_path / "mail", got[1].key).subject == "first"
    assert maildir.one(tmp_path / "mail", "../../etc/passwd") is None


async def test_a_session_sends_a_batch_over_one_connection(tmp_path):
    """The relay's batch pays connect, greeting, EHLO and QUIT once: three mails, one TCP connection
    (counted by a pass-through proxy in front of the sink); a failed send leaves the session usable."""
    sink = SmtpSink("127.0.0.1", free_port(), tmp_path / "mail")
    await sink.start()
    accepted = []

    async def pipe(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def proxy(reader, writer):
        accepted.append(1)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", sink.port)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)
    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with Session(SmtpTarget("127.0.0.1", port), timeout=10) as session:
            for n in range(3):
                await session.send(_mail(f"batch {n}"))
        assert len(accepted) == 1
        bad = _mail("unicode mailbox")
        bad.replace_header("To", "añá@example.com")  # the sink offers no SMTPUTF8: that mail fails, the next goes
        async with Session(SmtpTarget("127.0.0.1", port), timeout=10) as session:
            with pytest.raises(SendError):
                await session.send(bad)
            await session.send(_mail("after a failure"))
    finally:
        server.close()
        await sink.stop()
    subjects = sorted(m.subject for m in maildir.received(tmp_path / "mail"))
    assert subjects == ["after a failure", "batch 0", "batch 1", "batch 2"]


async def test_send_to_a_closed_port_is_a_send_error():
    with pytest.raises(SendError) as err:
        await send(SmtpTarget("127.0.0.1", free_port()), _mail("x"), timeout=5)
    assert "Error" in str(err.value)


def test_target_from_url_hides_credentials():
    tls = target(MailConfig(url="smtps://bob%40x.com:s3cr%2Ft@mail.example.com:465"))
    assert (tls.host, tls.port, tls.use_tls, tls.start_tls) == ("mail.example.com", 465, True, False)
    assert (tls.username, tls.password) == ("bob@x.com", "s3cr/t")
    assert "s3cr" not in repr(tls) and "s3cr" not in tls.describe() and "bob" not in tls.describe()
    plain = target(MailConfig(url="smtp://mail.example.com"))
    assert (plain.port, plain.start_tls, plain.use_tls, plain.username) == (587, True, False, None)
    embedded = target(MailConfig(embedded_port=2525))
    assert (embedded.host, embedded.port, embedded.start_tls, embedded.use_tls) == ("127.0.0.1", 2525, False, False)


async def test_sink_process_receives_and_stops(tmp_path):
    sink = SinkProcess("127.0.0.1", free_port(), tmp_path / "mail")
    assert await sink.try_start()
    try:
        await send(SmtpTarget("127.0.0.1", sink.port), _mail("via child"), timeout=10)
        assert [m.subject for m in maildir.received(tmp_path / "mail")] == ["via child"]
    finally:
        sink.stop()
    assert not sink.running


async def test_busy_port_is_one_line_and_no_sink(tmp_path):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        result = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "ecom.mail", "--port", str(port), "--folder",
                             str(tmp_path / "m")], cwd=ROOT, capture_output=True, text=True, timeout=30)
        assert result.returncode == 3
        assert result.stderr.strip().count("\n") == 0 and "port is in use" in result.stderr
        assert not await SinkProcess("127.0.0.1", port, tmp_path / "m").try_start()
    finally:
        holder.close()
