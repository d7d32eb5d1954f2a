"""Helpers shared by the benchmarks: free ports, a real `gateway serve` subprocess with its own
embedded Redis in a temporary directory, reached over loopback, the users and channels a
benchmark needs (through the gateway's REST API), a process's RSS and the fd limit."""

from __future__ import annotations

import json
import os
import resource
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ADMIN_EMAIL = "bench@example.com"
ADMIN_PASSWORD = "bench-password-123"
# Put first on PYTHONPATH, this shadows hiredis in the master and in every worker it spawns:
# redis-py then uses its pure-Python reply parser and command packer.
NO_HIREDIS = 'raise ImportError("hiredis disabled by the benchmark")\n'


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
        workers: int = 1,
        **env: str,
    ) -> None:
        self.hiredis = hiredis
        self.workers = workers
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
            "GATEWAY_WORKERS": str(workers),
            **env,
        }
        if redis_url:
            self.env["REDIS_URL"] = redis_url
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        if not self.hiredis:  # redis-py falls back to its pure-Python reply parser
            shim = self.data_dir / "no-hiredis"
            shim.mkdir(parents=True, exist_ok=True)
            (shim / "hiredis.py").write_text(NO_HIREDIS)
            path = [str(shim), self.env.get("PYTHONPATH", "")]
            self.env["PYTHONPATH"] = os.pathsep.join(p for p in path if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve"],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(self.data_dir / "gateway.log", "ab"),
        )
        wait_http(f"{self.base}/readyz", timeout)

    @property
    def redis_socket(self) -> Path:
        """The embedded Redis's unix socket."""
        return self.data_dir / "redis" / "redis.sock"

    def parser(self) -> str:
        """Which reply parser redis-py picks in this gateway's environment (its workers are
        fresh interpreters started with the same environment)."""
        probe = (
            "from redis.utils import HIREDIS_AVAILABLE as a\n"
            "import importlib.metadata as m\n"
            "print('hiredis ' + m.version('hiredis') if a else 'pure Python (no hiredis)')"
        )
        out = subprocess.run(
            [sys.executable, "-c", probe], env=self.env, capture_output=True, text=True,
            check=True,
        )  # fmt: skip
        return out.stdout.strip()

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) used so far by the gateway: its master and the workers,
        not the embedded redis-server (measured apart, through INFO)."""
        if self.proc is None:
            return 0.0
        return tree_cpu(self.proc.pid, exclude=("redis-server",))

    def worker_pid(self) -> int:
        """The pid of the (first) worker serving the requests: `gateway serve` is a master
        whose children are the embedded redis-server and the workers."""
        assert self.proc is not None
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                name, parent, _cpu = _stat(int(entry.name))
            except (OSError, ValueError):
                continue
            if parent != self.proc.pid or name.startswith("redis-server"):
                continue
            command = (entry / "cmdline").read_bytes()
            if b"spawn_main" in command and b"resource_tracker" not in command:
                return int(entry.name)
        return self.proc.pid  # no worker process

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

    def webchat_channel(self, token: str, origin: str, **config: object) -> str:
        body = {"type": "webchat", "name": "bench chat",
                "config": {"allowed_origins": [origin], **config}}  # fmt: skip
        return http_json("POST", f"{self.base}/api/v1/channels", body, token)["channel"]["id"]

    def agents(self, token: str, count: int, capacity: int = 100, threads: int = 8
               ) -> list[tuple[str, str]]:  # fmt: skip
        """``count`` agents created through the admin API, logged in and online: (id, token).
        Each costs two argon2 hashes in the gateway (about 0.4 s of CPU), hence the threads."""
        run = secrets.token_hex(3)

        def one(i: int) -> tuple[str, str]:
            email = f"agent{i}-{run}@example.com"
            password = f"password-{run}-{i}"
            body = {"email": email, "password": password, "name": f"Agent {i}",
                    "capacity": capacity}  # fmt: skip
            user = http_json("POST", f"{self.base}/api/v1/users", body, token)["user"]
            login = {"email": email, "password": password}
            agent_token = http_json("POST", f"{self.base}/api/v1/auth/login", login)["token"]
            self.online([agent_token], 1)
            return user["id"], agent_token

        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(one, range(count)))

    def online(self, tokens: list[str], threads: int = 8) -> None:
        """Set these agents online (again): presence lapses after the heartbeat TTL (90 s)
        without a console connected, and a reconnecting console does not revive it."""

        def one(token: str) -> None:
            http_json("PUT", f"{self.base}/api/v1/agents/me/status", {"status": "online"}, token)

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, tokens))


def _stat(pid: int) -> tuple[str, int, float]:
    """(command name, parent pid, CPU seconds) of a live process, from /proc."""
    text = Path(f"/proc/{pid}/stat").read_text()
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text.rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return name, int(fields[1]), cpu


def tree_cpu(pid: int, exclude: tuple[str, ...] = ()) -> float:
    """CPU seconds (user + system) of a process and its live descendants, leaving out those
    whose command name starts with one of ``exclude`` (and their descendants)."""
    procs: dict[int, tuple[str, int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                procs[int(entry.name)] = _stat(int(entry.name))
            except (OSError, ValueError):
                continue  # gone meanwhile
    children: dict[int, list[int]] = {}
    for child, (_name, parent, _cpu) in procs.items():
        children.setdefault(parent, []).append(child)
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        if current not in procs or procs[current][0].startswith(exclude):
            continue
        total += procs[current][2]
        todo.extend(children.get(current, []))
    return total


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (VmRSS in /proc), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def raise_fd_limit(needed: int) -> int:
    """Raise this process's open-file limit (inherited by the processes it starts) to the hard
    limit; returns the new soft limit. Raises SystemExit naming the limit when it is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        raise SystemExit(
            f"the open-file hard limit is {hard}, this run needs about {needed} descriptors "
            f"per process: raise it (ulimit -Hn / LimitNOFILE / docker --ulimit nofile) or "
            f"scale down (--visitors / --agents)"
        )
    return target


class Profiler:
    """py-spy sampling a process (folded stacks in ``path``) until ``stop``; a no-op without a
    path."""

    def __init__(self, path: str | None, pid: int) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        if not path:
            return
        spy = Path(sys.executable).with_name("py-spy")
        self.proc = subprocess.Popen(
            # --subprocesses: `gateway serve` is a master; the work is done in its worker.
            [str(spy), "record", "--pid", str(pid), "--subprocesses", "--format", "raw",
             "--rate", "200", "--output", path],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(1)  # attached before the load starts

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # py-spy writes the profile on SIGINT
            self.proc.wait(60)
