"""A real local Sentinel setup for the tests: a primary, one replica and one Sentinel (quorum 1)
on 127.0.0.1, each a redis-server in its own directory."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis

from gateway.redis_server import find_redis_server
from tests.cluster.local_cluster import free_cluster_port, stop_processes

SERVICE = "mymaster"


class LocalSentinel:
    def __init__(self, base_dir: Path) -> None:
        self.base_dir = Path(base_dir)
        self.primary_port = free_cluster_port()
        self.replica_port = free_cluster_port()
        self.sentinel_port = free_cluster_port()
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel_port}/{SERVICE}"

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_timeout=5, decode_responses=True)

    def start(self, timeout: float = 60.0) -> str:
        self._server("primary", self.primary_port)
        self._server("replica", self.replica_port,
                     ["--replicaof", "127.0.0.1", str(self.primary_port)])  # fmt: skip
        conf = self.base_dir / "sentinel" / "sentinel.conf"
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(
            f"port {self.sentinel_port}\n"
            f"bind 127.0.0.1\n"
            f"dir {conf.parent}\n"
            f"logfile {conf.parent / 'sentinel.log'}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary_port} 1\n"
            f"sentinel down-after-milliseconds {SERVICE} 2000\n"
            f"sentinel failover-timeout {SERVICE} 10000\n"
        )
        self._spawn([find_redis_server(), str(conf), "--sentinel"])
        replica, sentinel = self.client(self.replica_port), self.client(self.sentinel_port)
        try:
            self.wait(lambda: _replicating(replica), timeout, "replica in sync")
            # Sentinel learns the replicas from the primary's INFO (every 10 s at first).
            self.wait(lambda: _sentinel_knows_replica(sentinel), timeout, "replica known")
        finally:
            replica.close()
            sentinel.close()
        return self.url

    def primary(self) -> int:
        """The port of the primary Sentinel currently names."""
        sentinel = self.client(self.sentinel_port)
        try:
            _host, port = sentinel.sentinel_get_master_addr_by_name(SERVICE)
            return int(port)
        finally:
            sentinel.close()

    def failover(self, timeout: float = 60.0) -> int:
        """Promote the replica (after it has everything), wait until Sentinel names it and it
        accepts writes; returns its port."""
        old = self.primary()
        new = self.replica_port if old == self.primary_port else self.primary_port
        primary = self.client(old)
        try:
            primary.execute_command("WAIT", 1, 5000)
        finally:
            primary.close()
        sentinel = self.client(self.sentinel_port)
        try:
            sentinel.execute_command("SENTINEL FAILOVER", SERVICE)
        finally:
            sentinel.close()
        promoted = self.client(new)
        try:
            self.wait(lambda: self.primary() == new and _is_primary(promoted), timeout,
                      "failover")  # fmt: skip
        finally:
            promoted.close()
        return new

    def wait(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if any(proc.poll() is not None for proc in self.procs):
                raise RuntimeError(f"a Sentinel test server exited (see {self.base_dir})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"local Sentinel: no {what} within {timeout}s")
            time.sleep(0.2)

    def _server(self, name: str, port: int, extra: list[str] | None = None) -> None:
        directory = self.base_dir / name
        directory.mkdir(parents=True, exist_ok=True)
        self._spawn([
            find_redis_server(),
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(directory),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(directory / "redis.log"),
            *(extra or []),
        ])  # fmt: skip

    def _spawn(self, args: list[str]) -> None:
        self.procs.append(
            subprocess.Popen(
                args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
            )
        )

    def stop(self) -> None:
        stop_processes(self.procs)


def _replicating(replica: redis.Redis) -> bool:
    try:
        return replica.info("replication").get("master_link_status") == "up"
    except (redis.ConnectionError, OSError):
        return False


def _sentinel_knows_replica(sentinel: redis.Redis) -> bool:
    try:
        return bool(sentinel.sentinel_slaves(SERVICE))
    except (redis.ConnectionError, redis.ResponseError, OSError):
        return False


def _is_primary(node: redis.Redis) -> bool:
    try:
        return node.info("replication").get("role") == "master"
    except (redis.ConnectionError, OSError):
        return False
