"""Helpers shared by the benchmarks: free ports, and a real `gateway serve` subprocess with its
own embedded Redis in a temporary directory, reached over loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ADMIN_EMAIL = "bench@example.com"
ADMIN_PASSWORD = "bench-password-123"
NO_HIREDIS = (
    "import sys; sys.modules['hiredis'] = None; from gateway.cli import main; "
    "raise SystemExit(main(['serve']))"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


def http_json(method: str, url: str, body: object = None, token: str = "") -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"{}")


class GatewayProcess:
    """`python -m gateway.cli serve` on a free port; embedded Redis unless ``redis_url``."""

    def __init__(
        self,
        data_dir: Path,
        redis_url: str = "",
        port: int = 0,
        hiredis: bool = True,
        **env: str,
    ) -> None:
        self.hiredis = hiredis
        self.data_dir = data_dir
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "GATEWAY_DATA_DIR": str(data_dir),
            "GATEWAY_PORT": str(self.port),
            "GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{self.port}",
            "GATEWAY_ADMIN_EMAIL": ADMIN_EMAIL,
            "GATEWAY_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "GATEWAY_LOG_LEVEL": "WARNING",
            **env,
        }
        if redis_url:
            self.env["REDIS_URL"] = redis_url
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        command = [sys.executable, "-m", "gateway.cli", "serve"]
        if not self.hiredis:  # redis-py falls back to its pure-Python reply parser
            command = [sys.executable, "-c", NO_HIREDIS]
        self.proc = subprocess.Popen(
            command,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(self.data_dir / "gateway.log", "ab"),
        )
        wait_http(f"{self.base}/readyz", timeout)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def admin_token(self) -> str:
        body = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        return http_json("POST", f"{self.base}/api/v1/auth/login", body)["token"]

    def api_channel(self, token: str, secret: str, callback_url: str = "") -> str:
        config: dict[str, str] = {"secret": secret}
        if callback_url:
            config["callback_url"] = callback_url
        body = {"type": "api", "name": "bench", "config": config}
        return http_json("POST", f"{self.base}/api/v1/channels", body, token)["channel"]["id"]
