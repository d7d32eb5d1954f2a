"""A real local Redis Cluster for the tests: N masters (redis-server --cluster-enabled yes) on
127.0.0.1, each in its own temporary directory, formed from Python (no redis-cli needed):
slots split evenly, config epochs set, CLUSTER MEET, then wait for cluster_state:ok everywhere.
"""

from __future__ import annotations

import random
import socket
import subprocess
import time
from pathlib import Path

import redis

from gateway.redis_server import find_redis_server

SLOTS = 16384


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    for _ in range(200):
        port = random.randint(20000, 45000)
        if _bindable(port) and _bindable(port + 10000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


class LocalCluster:
    def __init__(
        self, base_dir: Path, masters: int = 3, extra_args: list[str] | None = None
    ) -> None:
        self.base_dir = Path(base_dir)
        self.masters = masters
        self.extra_args = extra_args or []
        self.ports: list[int] = []
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def node(self, index: int) -> redis.Redis:
        return redis.Redis(port=self.ports[index], socket_timeout=5, decode_responses=True)

    def start(self, timeout: float = 60.0) -> str:
        for index in range(self.masters):
            self._start_node(index)
        nodes = [self.node(i) for i in range(self.masters)]
        try:
            self._wait(lambda: all(_pings(n) for n in nodes), timeout, "nodes answering")
            per_node = SLOTS // self.masters
            for index, node in enumerate(nodes):
                last = SLOTS if index == self.masters - 1 else (index + 1) * per_node
                node.execute_command("CLUSTER ADDSLOTS", *range(index * per_node, last))
                # Distinct epochs up front, as redis-cli does, so no epoch collision to settle.
                node.execute_command("CLUSTER SET-CONFIG-EPOCH", index + 1)
            for port in self.ports[1:]:
                nodes[0].execute_command("CLUSTER MEET", "127.0.0.1", port)
            self._wait(lambda: all(_formed(n, self.masters) for n in nodes), timeout,
                       "cluster_state:ok on every node")  # fmt: skip
        finally:
            for node in nodes:
                node.close()
        return self.url

    def _start_node(self, index: int) -> None:
        directory = self.base_dir / f"node{index}"
        directory.mkdir(parents=True, exist_ok=True)
        port = free_cluster_port()
        args = [
            find_redis_server(),
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--cluster-enabled", "yes",
            "--cluster-config-file", str(directory / "nodes.conf"),
            "--cluster-node-timeout", "5000",
            "--dir", str(directory),
            "--appendonly", "no",
            "--save", "",
            "--hash-max-ziplist-value", "1024",
            "--daemonize", "no",
            "--logfile", str(directory / "redis.log"),
            *self.extra_args,
        ]  # fmt: skip
        self.ports.append(port)
        self.procs.append(
            subprocess.Popen(
                args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
            )
        )

    def _wait(self, check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not check():
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"a cluster node exited (see {self.base_dir}/*/redis.log)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"local Redis Cluster: no {what} within {timeout}s")
            time.sleep(0.1)

    def master_of_slot(self, slot: int) -> int:
        """Index of the node that owns ``slot`` (slots are split evenly in start())."""
        return min(slot // (SLOTS // self.masters), self.masters - 1)

    def stop(self) -> None:
        stop_processes(self.procs)


def stop_processes(procs: list[subprocess.Popen[bytes]]) -> None:
    """Terminate every server, kill those that do not stop within 20 s, forget them all."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    procs.clear()


def _pings(node: redis.Redis) -> bool:
    try:
        return bool(node.ping())
    except (redis.ConnectionError, OSError):
        return False


def _formed(node: redis.Redis, masters: int) -> bool:
    fields = node.execute_command("CLUSTER INFO")  # redis-py parses it into a dict
    if fields.get("cluster_state") != "ok" or fields.get("cluster_known_nodes") != str(masters):
        return False
    # Every node must also know every other node's slots, or the client gets a partial map.
    return sum(end - start + 1 for start, end, *_ in node.execute_command("CLUSTER SLOTS")) == SLOTS
