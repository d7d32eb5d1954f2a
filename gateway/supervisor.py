"""`gateway serve`'s master process: owns the embedded Redis and supervises the workers.

- Workers die with the master (the kernel sends them SIGTERM on Linux; elsewhere they watch
  their parent), so a master killed alone never leaves workers serving on a Redis that a second
  `gateway serve` could start again on the same append-only file.
- A worker that dies is started again; one that keeps dying right after its start (a port taken,
  a broken config) stops the gateway with an error instead of looping forever.
- The embedded redis-server is started again if it dies; webhooks answer 503 meanwhile and
  platforms retry.
- SIGTERM or SIGINT: every live worker is told once to drain, then Redis is stopped, last.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess

from aiohttp import web

from gateway.procutil import die_with_parent
from gateway.redis_server import EmbeddedRedis, EmbeddedRedisError
from gateway.settings import Settings

log = logging.getLogger("gateway.supervisor")

# A worker that exits sooner than this after its start counts as failing at start.
QUICK_EXIT_SECONDS = 10.0
MAX_QUICK_EXITS = 5
MAX_RESPAWN_DELAY = 30.0
# After the workers' own drain time, how long they may take to exit before they are killed.
EXIT_MARGIN_SECONDS = 15.0


def run_worker(settings: Settings, redis_url: str, reuse_port: bool, master_pid: int) -> None:
    """A worker process: one aiohttp server on the shared port."""
    # Own process group: a terminal's Ctrl-C reaches the master only, which tells each worker
    # once (a second signal in the middle of a drain would cut it short).
    os.setpgid(0, 0)
    if not die_with_parent():
        threading.Thread(target=_watch_parent, args=(master_pid,), daemon=True).start()
    if os.getppid() != master_pid:
        return  # the master died before we could ask to follow it
    from gateway.accesslog import server_options
    from gateway.app import create_app

    app = create_app(settings, redis_url)
    app.on_startup.append(freeze_startup_heap)  # after the app's own startup
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        reuse_port=reuse_port,
        shutdown_timeout=settings.shutdown_grace_seconds,
        print=lambda line: print(line, file=sys.stderr, flush=True),
        **server_options(),  # the access log without secrets (gateway/accesslog.py)
    )


async def freeze_startup_heap(app: web.Application) -> None:
    """What a worker holds once started (modules, models, rules, dictionaries: about 100,000
    objects) is never garbage: keep it out of the collector's full passes. Each of those
    scanned it all and stopped the event loop for 30-70 ms, the slowest requests' whole
    latency (docs/performance.md)."""
    gc.collect()
    gc.freeze()


def _watch_parent(master_pid: int) -> None:
    while os.getppid() == master_pid:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


@dataclass
class _Slot:
    process: BaseProcess | None = None
    started: float = 0.0
    quick_exits: int = 0
    respawn_at: float = 0.0


class Supervisor:
    def __init__(self, settings: Settings, redis_url: str, embedded: EmbeddedRedis | None) -> None:
        self.settings = settings
        self.redis_url = redis_url
        self.embedded = embedded
        self.ctx = multiprocessing.get_context("spawn")
        self.slots = [_Slot() for _ in range(settings.workers)]
        self.stop_signal = 0
        self.failed = False
        self.redis_retry_at = 0.0
        self.redis_failures = 0

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        for slot in self.slots:
            self._spawn(slot)
        while not self.stop_signal and not self.failed:
            sentinels = [s.process.sentinel for s in self.slots if s.process is not None]
            wait(sentinels, timeout=0.5)
            self._reap()
            self._respawn_due()
            self._watch_redis()
        return self._shutdown()

    def _on_signal(self, signum: int, _frame: object) -> None:
        if self.stop_signal:
            log.warning("already stopping (signal %d ignored)", signum)
            return
        self.stop_signal = signum

    def _spawn(self, slot: _Slot) -> None:
        reuse_port = self.settings.workers > 1
        args = (self.settings, self.redis_url, reuse_port, os.getpid())
        slot.process = self.ctx.Process(target=run_worker, args=args, daemon=False)
        slot.process.start()
        slot.started = time.monotonic()

    def _reap(self) -> None:
        for n, slot in enumerate(self.slots):
            proc = slot.process
            if proc is None or proc.is_alive():
                continue
            slot.process = None
            _mark_dead(proc.pid)
            if self.stop_signal:
                continue
            lived = time.monotonic() - slot.started
            slot.quick_exits = slot.quick_exits + 1 if lived < QUICK_EXIT_SECONDS else 0
            if slot.quick_exits >= MAX_QUICK_EXITS:
                log.error(
                    "worker %d exited %d times within %.0f s of its start (last exit code %s); "
                    "stopping: see the errors above",
                    n, slot.quick_exits, QUICK_EXIT_SECONDS, proc.exitcode,
                )  # fmt: skip
                self.failed = True
                return
            delay = (
                min(MAX_RESPAWN_DELAY, 0.5 * 2 ** (slot.quick_exits - 1)) if slot.quick_exits else 0
            )
            log.error(
                "worker %d (pid %s) exited with code %s; starting it again in %.1f s",
                n, proc.pid, proc.exitcode, delay,
            )  # fmt: skip
            slot.respawn_at = time.monotonic() + delay

    def _respawn_due(self) -> None:
        now = time.monotonic()
        for slot in self.slots:
            if slot.process is None and not self.stop_signal and now >= slot.respawn_at:
                self._spawn(slot)

    def _watch_redis(self) -> None:
        embedded = self.embedded
        if embedded is None or not embedded.crashed or time.monotonic() < self.redis_retry_at:
            return
        code = embedded.process.returncode if embedded.process else None
        log.error("the embedded redis-server exited (code %s); starting it again", code)
        try:
            embedded.start()
        except EmbeddedRedisError as exc:
            self.redis_failures += 1
            delay = min(MAX_RESPAWN_DELAY, 2.0**self.redis_failures)
            log.error(
                "the embedded redis-server did not start (%s); next try in %.0f s", exc, delay
            )
            self.redis_retry_at = time.monotonic() + delay
            return
        self.redis_failures = 0
        log.warning("the embedded redis-server is back (%s)", embedded.url)

    def _shutdown(self) -> int:
        live = [s.process for s in self.slots if s.process is not None and s.process.is_alive()]
        for proc in live:
            try:
                os.kill(proc.pid, signal.SIGTERM)  # type: ignore[arg-type]
            except ProcessLookupError:
                pass  # died on its own meanwhile
        deadline = time.monotonic() + self.settings.shutdown_grace_seconds + EXIT_MARGIN_SECONDS
        for proc in live:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                log.error("worker pid %s did not stop in time; killing it", proc.pid)
                proc.kill()
                proc.join()
            _mark_dead(proc.pid)
        if self.failed:
            return 1
        return 0 if all(p.exitcode == 0 for p in live) else 1


def _backoff(failures: int, base: float) -> float:
    """0 for a first failure after a long run, then doubling from ``base``, capped."""
    return min(MAX_RESPAWN_DELAY, base * 2 ** (failures - 1)) if failures else 0.0


def _mark_dead(pid: int | None) -> None:
    if pid and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
