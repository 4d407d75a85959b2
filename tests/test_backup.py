"""`run.py backup` / `run.py restore` as an operator runs them: a real shop (every default plugin, embedded
PostgreSQL and broker), real HTTP, then the restored copy served from a new data dir."""
from __future__ import annotations

import gzip
import http.cookiejar
import io
import json
import os
import re
import signal
import stat
import struct
import subprocess
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zlib
from datetime import datetime
from pathlib import Path

from tests import helpers

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SPAIN = {"name": "Ana García", "line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013", "country": "ES",
         "phone": "+34 911 234 567"}
DEADLINE = 30.0


def png(width: int, height: int) -> bytes:
    """A real (tiny, grey) PNG: the shop checks that an upload is the image it claims to be."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def write_config(tmp_path: Path) -> Path:
    """Every default plugin, payments at once, no app rate limits (one client signs up and logs in often)."""
    return helpers.write_config(tmp_path, enabled=None, extra="[plugins.payments]\ndelay_seconds = 0\n",
                                rate_limits=False)


def run_py(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], capture_output=True, text=True,
                          timeout=kw.pop("timeout", 120), cwd=ROOT, **kw)


def start(config: Path, log: Path, *extra: str) -> subprocess.Popen:
    """A one-process shop, once it says it is ready (its log in a file: a full pipe would stall it)."""
    with log.open("a") as err:
        proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--config", str(config), *extra], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=err, text=True)
    watchdog = threading.Timer(120, proc.kill)  # a start-up that hangs fails the test instead of stalling it
    watchdog.start()
    try:
        for line in proc.stdout:
            if "ready at" in line:
                return proc
    finally:
        watchdog.cancel()
    proc.kill()
    raise AssertionError(f"run.py did not start: {log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0


class Shop:
    """HTTP to a running shop, with a cookie jar for the browser half."""

    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"
        self.jar = http.cookiejar.CookieJar()

    def call(self, method: str, path: str, body=None, token: str | None = None, headers: dict | None = None,
             form: dict | None = None, cookies: bool = False):
        headers = dict(headers or {})
        data = None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif isinstance(body, bytes):
            data = body
        elif body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        handlers = [urllib.request.HTTPCookieProcessor(self.jar)] if cookies else []
        opener = urllib.request.build_opener(*handlers, NoRedirect)
        try:
            with opener.open(request, timeout=15) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def json(self, method: str, path: str, body=None, token: str | None = None, expect: int = 200):
        status, raw = self.call(method, path, body, token)
        assert status == expect, (method, path, status, raw[:500])
        return json.loads(raw) if raw else None

    def account(self, *, seller: bool = False) -> tuple[str, str]:
        email = f"u{uuid.uuid4().hex[:12]}@example.com"
        self.json("POST", "/api/v1/users", {"email": email, "name": "Tester", "password": PASSWORD,
                                            "is_seller": seller}, expect=202)
        return email, self.token(email)

    def token(self, email: str) -> str:
        return self.json("POST", "/api/v1/auth/token", {"email": email, "password": PASSWORD})["token"]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def wait_for(probe, done, what: str):
    deadline = time.monotonic() + DEADLINE
    while True:
        value = probe()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}; last value: {value!r}"
        time.sleep(0.1)


def test_backup_of_a_running_shop_restores_its_orders_media_and_logins(tmp_path):
    config = write_config(tmp_path)
    port = int(re.search(r"port = (\d+)", config.read_text()).group(1))
    proc = start(config, tmp_path / "shop.log")
    shop = Shop(port)
    try:
        _, seller = shop.account(seller=True)
        product = shop.json("POST", "/api/v1/products", {"name": "Blue mug", "description": "A mug.",
                            "price_cents": 1299, "currency": "EUR", "type": "Kitchen", "sku": "MUG-1"}, seller, 201)
        image = png(3, 2)
        status, raw = shop.call("PUT", f"/api/v1/products/{product['id']}/image", image, seller,
                                headers={"Content-Type": "image/png"})
        assert status == 200, raw
        image_url = json.loads(raw)["image_url"]
        shop.json("PUT", f"/api/v1/inventory/{product['id']}/eu-west", {"quantity": 5}, seller)

        email, token = shop.account()
        page = shop.call("GET", "/login", cookies=True)[1].decode()
        status, _ = shop.call("POST", "/login", form={"csrf_token": CSRF.search(page).group(1), "email": email,
                                                      "password": PASSWORD, "next": "/account"}, cookies=True)
        assert status == 303
        status, account_page = shop.call("GET", "/account", cookies=True)
        assert status == 200 and email in account_page.decode()
        session_cookie = {c.name: c.value for c in shop.jar}["ecom_session"]

        card = {"method": "card", "card_number": "4242 4242 4242 4242", "exp_month": 12,
                "exp_year": datetime.now().year + 3, "cvc": "123"}
        order = shop.json("POST", "/api/v1/orders", {"region": "eu-west", "ship_to": SPAIN, "payment": card,
                          "items": [{"product_id": product["id"], "quantity": 2}]}, token, 201)
        wait_for(lambda: shop.json("GET", f"/api/v1/orders/{order['id']}", token=token)["status"],
                 lambda s: s == "paid", "the order to be paid")
        before = shop.json("GET", "/api/v1/orders", token=token)
        maildir = tmp_path / "data" / "mail"
        wait_for(lambda: [p for p in maildir.rglob("*") if p.is_file()], bool, "a mail in the sink's Maildir")

        archive = tmp_path / "shop.tar.gz"
        result = run_py("backup", "--config", str(config), "--output", str(archive))  # while it serves
        assert result.returncode == 0, result.stderr
    finally:
        stop(proc)
    dumped = [line for line in result.stdout.splitlines() if " dumped (" in line]
    assert any("ecom_orders dumped" in line for line in dumped) and len(dumped) >= 10, result.stdout
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    manifest = read_manifest(archive)
    assert manifest["secret"] and manifest["mail"] and {"ecom_users", "ecom_orders", "ecom_payments"} <= {
        d["name"] for d in manifest["databases"]}

    # the shop stopped: backup starts its PostgreSQL for the dump (default place), and stops it again
    data = tmp_path / "data"
    result = run_py("backup", "--config", str(config))
    assert result.returncode == 0, result.stderr
    stopped = Path(result.stdout.split("backup written to ")[1].split(" (mode")[0])
    assert stopped.parent == data / "backups" and stopped.name.startswith("ecom-")
    assert [d["name"] for d in read_manifest(stopped)["databases"]] == [d["name"] for d in manifest["databases"]]
    assert not (data / "postgres" / "postmaster.pid").exists()
    again = run_py("backup", "--config", str(config), "--output", str(archive))
    assert again.returncode == 2 and "already exists" in again.stderr  # never overwrites an archive

    restored = tmp_path / "restored"
    result = run_py("restore", str(archive), "--config", str(config), "--data-dir", str(restored))
    assert result.returncode == 0, result.stderr
    assert sum(" restored (" in line for line in result.stdout.splitlines()) == len(manifest["databases"])
    assert (restored / "secret.key").read_bytes() == (tmp_path / "data" / "secret.key").read_bytes()
    assert stat.S_IMODE((restored / "secret.key").stat().st_mode) == 0o600
    with tarfile.open(archive) as tar:
        mails = sorted(m.name for m in tar.getmembers() if m.name.startswith("mail/") and m.isfile())
    restored_mails = sorted(str(p.relative_to(restored)) for p in (restored / "mail").rglob("*") if p.is_file())
    assert mails and mails == restored_mails
    assert stat.S_IMODE((restored / "mail").stat().st_mode) == 0o700

    proc = start(config, tmp_path / "restored.log", "--data-dir", str(restored))
    try:
        shop = Shop(port)
        assert shop.json("GET", "/api/v1/orders", token=token) == before  # same ids, totals, statuses
        assert [o["id"] for o in before] == [order["id"]] and before[0]["total_cents"] == order["total_cents"]
        assert shop.call("GET", image_url) == (200, image)
        status, page = shop.call("GET", "/account", headers={"Cookie": f"ecom_session={session_cookie}"})
        assert status == 200 and email in page.decode()  # the old session: same secret, same session rows
        assert shop.token(email)  # the password hash came back too
    finally:
        stop(proc)


def test_restore_refuses_a_data_dir_in_use_and_a_broken_archive_with_one_line(tmp_path):
    config = write_config(tmp_path)
    good_gz = io.BytesIO()
    with tarfile.open(fileobj=good_gz, mode="w:gz") as tar:
        info = tarfile.TarInfo("manifest.json")
        tar.addfile(info, io.BytesIO(b""))
    cases = {
        "not-gzip.tar.gz": b"this is not a backup",
        "truncated.tar.gz": good_gz.getvalue()[:-20],
        "empty-manifest.tar.gz": good_gz.getvalue(),
        "foreign.tar.gz": gzip.compress(_tar_with("../etc/passwd", b"x")),
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        target = tmp_path / f"new-{name}"
        result = run_py("restore", str(tmp_path / name), "--config", str(config), "--data-dir", str(target))
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2 and len(lines) == 1, (name, result.stderr)
        assert "is not" in lines[0] and "ecom backup" in lines[0], (name, lines)
        assert not [p for p in target.iterdir() if not p.name.endswith(".lock")], name  # left empty

    shop_dir = tmp_path / "in-use"
    (shop_dir / "postgres").mkdir(parents=True)
    (shop_dir / "postgres" / "PG_VERSION").write_text("18\n")
    result = run_py("restore", str(tmp_path / "not-gzip.tar.gz"), "--config", str(config), "--data-dir", str(shop_dir))
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and "holds a shop" in lines[0], result.stderr

    refusals = [  # (arguments, environment, what the one line says)
        (["restore", str(tmp_path / "missing.tar.gz"), "--data-dir", str(tmp_path / "new")], {}, "is not a file"),
        (["backup"], {}, "holds no shop"),  # the config's data dir was never started
        (["backup"], {"ECOM__DATABASE__URL": "postgresql://shop@db.example/"}, "PostgreSQL of your own"),
    ]
    for args, env, message in refusals:
        result = run_py(*args, "--config", str(config), env={**os.environ, **env})
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2 and len(lines) == 1 and message in lines[0], (args, result.stderr)


def read_manifest(archive: Path) -> dict:
    with tarfile.open(archive) as tar:
        return json.load(tar.extractfile("manifest.json"))


def _tar_with(name: str, body: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return out.getvalue()

