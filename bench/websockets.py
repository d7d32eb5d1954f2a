"""Benchmark: 10,000 web chat visitors and 1,000 agents connected to one gateway process: its
memory per connection and its event fan-out latency, beside a bare aiohttp WebSocket server
holding the same connections in the same run.

    .venv/bin/python bench/websockets.py [--visitors 10000] [--agents 1000] [--json]
                                              [--redis-pool N] [--profile out.folded]
                                              [--gateway-log PATH]

Visitors speak the widget's protocol on /channels/<id>/webchat/ws (hello -> welcome, history);
agents hold the console's /api/v1/ws. Client sockets live in worker processes (--per-worker
each) driven over pipes; every frame carrying a marker ("BM:...") is timestamped on arrival
with the system-wide monotonic clock, so trigger and arrival times compare across processes.

Figures, gateway and baseline:
- RSS of the server process before and after the sockets connect (/proc VmRSS), bytes per
  connection;
- agent event fan-out: one new customer's API-channel message (unassigned, so its
  `message.created` goes to every agent) -> its arrival on every agent socket; baseline: one
  POST whose handler sends one frame to every agent socket; --trials times;
- visitor reply fan-out: the assignees of N visitors' conversations (N = --replies) each POST a
  reply at the same moment -> each reply's arrival on its visitor's socket; baselines: N POSTs
  at once, each pushing one frame to one visitor socket, `bare-json` parsing the JSON body and
  answering JSON, `bare` neither; --reply-trials times; the server CPU per reply beside them
  (the gateway's Redis apart).
Latencies count from the trigger (the moment before the first request is sent). --profile
samples the gateway (its worker process) during the reply bursts only.

--redis-pool N runs Redis beside the gateway and gives the gateway a redis-py pool of N
connections through REDIS_URL; by default (0) the gateway uses its own pool (500 connections
that wait when busy; before that fix, redis-py's default of 100 that failed at once overflowed
with 1,000 agents: see docs/performance.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp

from adapters.api.signing import HEADER, sign
from gateway.redis_server import EmbeddedRedis

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _wsbaseline
from _latency import line, ratio_line, ratios, summary
from _serve import GatewayProcess, Profiler, http_json, raise_fd_limit, rss_bytes, tree_cpu
from _wsauth import agent_socket

ORIGIN = "https://shop.example.com"
MARK = re.compile(r"BM:[a-z0-9-]+")
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Timeout)\b")
WAIT_SECONDS = 120.0  # for every expected frame of one trial
SAY_WAVE = 50  # visitors writing at once while the conversations for the replies are set up
STARTED = time.monotonic()


def note(text: str) -> None:
    """Progress on stderr (a full run takes many minutes)."""
    print(f"[{time.monotonic() - STARTED:6.0f}s] {text}", file=sys.stderr, flush=True)


# --- a worker process: holds client sockets, timestamps marked frames ---------------------
class Clients:
    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None
        self.sockets: dict[int, aiohttp.ClientWebSocketResponse] = {}
        self.readers: list[asyncio.Task[None]] = []
        self.hits: list[tuple[int, str, float]] = []
        self.acks: dict[str, asyncio.Future[str]] = {}

    async def connect(self, urls: list[str], widget: bool, concurrency: int) -> dict[str, Any]:
        """Open every socket (``concurrency`` handshakes at a time): the widget's handshake
        (hello -> welcome, history) or the server greeting first ({"type": "hello"})."""
        if self.session is None:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        gate = asyncio.Semaphore(concurrency)
        failed: list[str] = []
        started = time.monotonic()

        async def one(index: int, url: str) -> None:
            assert self.session is not None
            async with gate:
                try:
                    bare, headers = agent_socket(url)
                    if widget:
                        headers["Origin"] = ORIGIN
                    ws = await self.session.ws_connect(bare, headers=headers, heartbeat=None)
                    if widget:
                        await ws.send_str('{"type": "hello"}')
                        for want in ("welcome", "history"):
                            frame = await ws.receive_json(timeout=120)
                            assert frame["type"] == want, frame
                    else:
                        frame = await ws.receive_json(timeout=120)
                        assert frame["type"] == "hello", frame
                except Exception as exc:  # counted and reported, the others go on
                    failed.append(f"{type(exc).__name__}: {exc}")
                    return
            self.sockets[index] = ws
            self.readers.append(asyncio.create_task(self.read(index, ws)))

        await asyncio.gather(*(one(i, url) for i, url in enumerate(urls)))
        return {
            "connected": len(self.sockets),
            "failed": len(failed),
            "errors": failed[:3],
            "seconds": round(time.monotonic() - started, 2),
        }

    async def read(self, index: int, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = msg.data
            if "BM:" in data:
                now = time.monotonic()
                self.hits.extend((index, mark, now) for mark in set(MARK.findall(data)))
            elif '"ack"' in data[:20]:  # a visitor's message was filed
                frame = json.loads(data)
                waiter = self.acks.pop(str(frame.get("client_id")), None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(str(frame.get("conversation_id") or ""))

    async def say(self, items: list[list[Any]]) -> dict[str, Any]:
        """Visitors send one message each ([socket index, client id, text]); their acks."""
        loop = asyncio.get_running_loop()
        waiters = {}
        for index, client_id, text in items:
            ws = self.sockets.get(index)
            if ws is None:  # this visitor never connected
                continue
            waiters[client_id] = self.acks[client_id] = loop.create_future()
            frame = {"type": "message", "client_id": client_id, "text": text}
            await ws.send_str(json.dumps(frame))
        if waiters:
            await asyncio.wait(waiters.values(), timeout=WAIT_SECONDS)
        done = {cid: w.result() for cid, w in waiters.items() if w.done()}
        for client_id in waiters.keys() - done.keys():  # the socket failed: no ack will come
            self.acks.pop(client_id, None)
        return {"acks": done}

    async def close(self) -> dict[str, Any]:
        for task in self.readers:
            task.cancel()
        sockets = list(self.sockets.values())
        self.sockets.clear()
        self.readers.clear()
        gate = asyncio.Semaphore(200)

        async def one(ws: aiohttp.ClientWebSocketResponse) -> None:
            async with gate:
                try:
                    await asyncio.wait_for(ws.close(), 10)
                except Exception:
                    return

        await asyncio.gather(*(one(ws) for ws in sockets))
        return {"closed": len(sockets)}


async def worker_loop() -> None:
    clients = Clients()
    loop = asyncio.get_running_loop()
    while True:
        raw = await loop.run_in_executor(None, sys.stdin.readline)
        if not raw:
            break
        cmd = json.loads(raw)
        name = cmd.pop("cmd")
        if name == "exit":
            break
        if name == "connect":
            reply = await clients.connect(**cmd)
        elif name == "say":
            reply = await clients.say(**cmd)
        elif name == "collect":
            reply = {"hits": clients.hits}
            clients.hits = []
        elif name == "close":
            reply = await clients.close()
        else:
            reply = {"error": f"unknown command {name}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    await clients.close()
    if clients.session is not None:
        await clients.session.close()


# --- the orchestrator's side of the workers -----------------------------------------------
class Worker:
    def __init__(self, kind: str, first: int, count: int) -> None:
        self.kind, self.first, self.count = kind, first, count  # global indices it holds
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def send(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        raw = self.proc.stdout.readline()
        if not raw:
            raise RuntimeError(f"a {self.kind} worker died (exit code {self.proc.poll()})")
        return json.loads(raw)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send(cmd="exit")
                self.proc.wait(60)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def on_all(workers: list[Worker], commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One command per worker, run by all of them at the same time."""
    for worker, cmd in zip(workers, commands, strict=True):
        worker.send(**cmd)
    return [worker.receive() for worker in workers]


def connect(workers: list[Worker], url_of: Any, concurrency: int, widget: bool = False
            ) -> dict[str, Any]:  # fmt: skip
    commands = [
        {
            "cmd": "connect",
            "widget": widget,
            "concurrency": concurrency,
            "urls": [url_of(w.first + i) for i in range(w.count)],
        }
        for w in workers
    ]
    replies = on_all(workers, commands)
    return {
        "connected": sum(r["connected"] for r in replies),
        "failed": sum(r["failed"] for r in replies),
        "errors": [e for r in replies for e in r["errors"]][:3],
        "seconds": max(r["seconds"] for r in replies),
    }


def arrivals(workers: list[Worker], expected: set[tuple[int, str]]) -> dict[tuple[int, str], float]:
    """First arrival time of each expected (global socket index, marker), polling the workers
    until all came or WAIT_SECONDS passed."""
    got: dict[tuple[int, str], float] = {}
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        replies = on_all(workers, [{"cmd": "collect"}] * len(workers))
        for worker, reply in zip(workers, replies, strict=True):
            for index, mark, at in reply["hits"]:
                key = (worker.first + index, mark)
                if key in expected and key not in got:
                    got[key] = at
        if len(got) == len(expected):
            break
        time.sleep(0.2)
    return got


def spawn(kind: str, total: int, per_worker: int) -> list[Worker]:
    return [
        Worker(kind, first, min(per_worker, total - first)) for first in range(0, total, per_worker)
    ]


# --- measurements -------------------------------------------------------------------------
def post(url: str, body: bytes, headers: dict[str, str]) -> None:
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    with urllib.request.urlopen(req, timeout=60) as resp:
        resp.read()


def agent_fanout(agents: list[Worker], count: int, trials: int, trigger: Any) -> dict[str, Any]:
    """``trigger(marker)`` makes one event that every agent socket should receive."""
    latencies: list[float] = []
    all_reached: list[float] = []
    missing = 0
    for trial in range(trials):
        mark = f"BM:{secrets.token_hex(4)}-{trial}"
        expected = {(i, mark) for i in range(count)}
        started = time.monotonic()
        trigger(mark)
        got = arrivals(agents, expected)
        lat = [at - started for at in got.values()]
        latencies += lat
        all_reached.append(max(lat, default=0.0))
        missing += len(expected) - len(got)
    return {
        "figures": summary(latencies),
        "missing": missing,
        "all_reached_ms": round(statistics.median(all_reached) * 1000, 2),
    }


async def _burst(requests: list[tuple[str, bytes, dict[str, str]]]) -> tuple[float, list[int]]:
    """Send every request at once; returns (the moment before the first went out, statuses)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one(url: str, body: bytes, headers: dict[str, str]) -> int:
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                return resp.status

        started = time.monotonic()
        statuses = await asyncio.gather(*(one(*r) for r in requests))
    return started, list(statuses)


def reply_fanout(
    visitors: list[Worker], targets: list[int], trials: int, request_for: Any, cpu: Any
) -> dict[str, Any]:
    """``request_for(visitor index, marker)`` is the request whose effect is one frame on that
    visitor's socket; all of a trial's requests go out at once. ``cpu()``: the server's CPU
    seconds so far, (own, its Redis's)."""
    cpu_before = cpu()
    latencies: list[float] = []
    all_reached: list[float] = []
    missing = 0
    statuses: dict[str, int] = {}
    for trial in range(trials):
        run = f"{secrets.token_hex(3)}-{trial}"
        marks = {i: f"BM:{run}-{i}" for i in targets}
        started, codes = asyncio.run(_burst([request_for(i, marks[i]) for i in targets]))
        for code in codes:
            statuses[str(code)] = statuses.get(str(code), 0) + 1
        got = arrivals(visitors, {(i, mark) for i, mark in marks.items()})
        lat = [at - started for at in got.values()]
        latencies += lat
        all_reached.append(max(lat, default=0.0))
        missing += len(marks) - len(got)
    cpu_after = cpu()
    replies = max(1, len(targets) * trials)
    return {
        "figures": summary(latencies),
        "missing": missing,
        "statuses": statuses,
        "all_reached_ms": round(statistics.median(all_reached) * 1000, 2),
        "cpu_ms_per_reply": round((cpu_after[0] - cpu_before[0]) * 1000 / replies, 3),
        "redis_cpu_ms_per_reply": round((cpu_after[1] - cpu_before[1]) * 1000 / replies, 3),
    }


def memory(
    pid: int,
    workers_a: list[Worker],
    workers_v: list[Worker],
    agent_url: Any,
    visitor_url: Any,
    concurrency: int,
    widget: bool,
    settle: float,
) -> dict[str, Any]:
    """Connect the agents, then the visitors; the server's RSS before and after each."""
    time.sleep(settle)
    before = rss_bytes(pid)
    agents = connect(workers_a, agent_url, concurrency)
    note(f"agents: {agents}")
    time.sleep(settle)
    with_agents = rss_bytes(pid)
    visitors = connect(workers_v, visitor_url, concurrency, widget)
    note(f"visitors: {visitors}")
    time.sleep(settle)
    after = rss_bytes(pid)
    n_a, n_v = max(1, agents["connected"]), max(1, visitors["connected"])
    return {
        "rss_before_mib": round(before / 2**20, 1),
        "rss_after_mib": round(after / 2**20, 1),
        "bytes_per_agent": round((with_agents - before) / n_a),
        "bytes_per_visitor": round((after - with_agents) / n_v),
        "bytes_per_connection": round((after - before) / (n_a + n_v)),
        "agents": agents,
        "visitors": visitors,
    }


def close_all(workers: list[Worker]) -> None:
    on_all(workers, [{"cmd": "close"}] * len(workers))


# --- the orchestration --------------------------------------------------------------------
def problems(log: Path, limit: int = 8) -> dict[str, int]:
    """The gateway log's ERROR / WARNING lines (first line of each record), counted."""
    seen: dict[str, int] = {}
    if not log.exists():
        return seen
    for text in log.read_text(errors="replace").splitlines():
        logged = " ERROR " in text or " WARNING " in text
        if logged or EXCEPTION_LINE.match(text):  # a record, or a traceback's last line
            key = re.sub(r"\b[0-9a-f_]{8,}\b|\d+", "#", text.split("] ", 1)[-1])[:200]
            if key in seen or len(seen) < limit:
                seen[key] = seen.get(key, 0) + 1
    return seen


def run_baseline(
    args: argparse.Namespace, workers_a: list[Worker], workers_v: list[Worker], targets: list[int]
) -> dict[str, Any]:
    proc, base = _wsbaseline.start()
    ws = base.replace("http://", "ws://")
    try:
        assert proc.pid
        out = memory(
            proc.pid,
            workers_a,
            workers_v,
            lambda i: f"{ws}/ws?group=agents&id={i}",
            lambda i: f"{ws}/ws?group=visitors&id={i}",
            args.concurrency,
            widget=False,
            settle=args.settle,
        )
        headers = {"Content-Type": "application/json"}

        def trigger(mark: str) -> None:
            body = json.dumps({"message_id": mark, "text": f"A new customer wrote {mark}"})
            post(f"{base}/broadcast/agents?type=message.created", body.encode(), headers)

        out["agent_event"] = agent_fanout(workers_a, args.agents, args.trials, trigger)
        note("baseline: agent events done")

        def request_for(i: int, mark: str) -> tuple[str, bytes, dict[str, str]]:
            body = json.dumps({"message_id": mark, "text": f"An agent's reply {mark}"})
            return f"{base}/push/visitors/{i}?type=message", body.encode(), headers

        def bare_request_for(i: int, mark: str) -> tuple[str, bytes, dict[str, str]]:
            body = json.dumps({"message_id": mark, "text": f"An agent's reply {mark}"})
            url = f"{base}/push-bare/visitors/{i}?type=message&id={mark}"
            return url, body.encode(), headers

        def cpu() -> tuple[float, float]:
            return tree_cpu(proc.pid), 0.0

        out["visitor_reply_bare"] = reply_fanout(
            workers_v, targets, args.reply_trials, bare_request_for, cpu
        )
        out["visitor_reply"] = reply_fanout(workers_v, targets, args.reply_trials, request_for, cpu)
        close_all(workers_a + workers_v)
    finally:
        _wsbaseline.stop(proc)
    return out


def prepare_conversations(
    gateway: GatewayProcess,
    admin: str,
    workers_v: list[Worker],
    targets: list[int],
    agent_tokens: dict[str, str],
) -> dict[int, tuple[str, str]]:
    """Each target visitor writes once; its conversation is offered to an agent, who accepts.
    Returns visitor index -> (conversation id, assignee's token)."""
    acks: dict[str, str] = {}
    # In waves: this is setup, not the measurement, and 500 messages at once would wait for the
    # gateway's Redis pool (100 connections, 0.5 s) and some would fail.
    for wave in range(0, len(targets), SAY_WAVE):
        items: dict[int, list[list[Any]]] = {id(w): [] for w in workers_v}
        for i in targets[wave : wave + SAY_WAVE]:
            worker = next(w for w in workers_v if w.first <= i < w.first + w.count)
            items[id(worker)].append([i - worker.first, f"v{i}", "Hello, where is my parcel?"])
        commands = [{"cmd": "say", "items": items[id(w)]} for w in workers_v]
        for reply in on_all(workers_v, commands):
            acks.update(reply["acks"])

    def accept(i: int) -> tuple[int, tuple[str, str]]:
        conversation = acks[f"v{i}"]
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            url = f"{gateway.base}/api/v1/conversations/{conversation}"
            offered = http_json("GET", url, token=admin)["conversation"].get("offered_to")
            if offered:
                token = agent_tokens[offered]
                http_json("POST", f"{url}/accept", {}, token)
                return i, (conversation, token)
            time.sleep(0.2)
        raise RuntimeError(f"conversation {conversation} was never offered")

    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(accept, [i for i in targets if f"v{i}" in acks]))


def run_gateway(
    args: argparse.Namespace,
    gateway: GatewayProcess,
    setup: dict[str, Any],
    workers_a: list[Worker],
    workers_v: list[Worker],
    targets: list[int],
) -> dict[str, Any]:
    ws = gateway.base.replace("http://", "ws://")
    tokens = [token for _, token in setup["agents"]]
    gateway.online(tokens)  # their presence lapsed while the baseline ran
    assert gateway.proc is not None
    out = memory(
        gateway.worker_pid(),  # the master holds no socket
        workers_a,
        workers_v,
        lambda i: f"{ws}/api/v1/ws?token={tokens[i]}",
        lambda i: f"{ws}/channels/{setup['webchat']}/webchat/ws",
        args.concurrency,
        widget=True,
        settle=args.settle,
    )
    api_url = f"{gateway.base}/channels/{setup['api']}/messages"

    def trigger(mark: str) -> None:
        body = json.dumps(
            {
                "message_id": mark,
                "sender": {"id": f"cust-{mark}"},
                "text": f"A new customer wrote {mark}",
            }
        ).encode()
        headers = {HEADER: sign(setup["secret"], body), "Content-Type": "application/json"}
        post(api_url, body, headers)

    out["agent_event"] = agent_fanout(workers_a, args.agents, args.trials, trigger)
    note("gateway: agent events done")
    started = time.monotonic()
    conversations = prepare_conversations(
        gateway, setup["admin"], workers_v, targets, dict(setup["agents"])
    )
    out["reply_setup_seconds"] = round(time.monotonic() - started, 1)
    targets = sorted(conversations)  # those whose visitor is connected and got an answer
    note(f"gateway: {len(conversations)} conversations accepted")

    def request_for(i: int, mark: str) -> tuple[str, bytes, dict[str, str]]:
        conversation, token = conversations[i]
        body = json.dumps({"text": f"An agent's reply {mark}"}).encode()
        url = f"{gateway.base}/api/v1/conversations/{conversation}/messages"
        return url, body, {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}

    def cpu() -> tuple[float, float]:
        assert gateway.proc is not None
        own = gateway.cpu_seconds()
        return own, tree_cpu(gateway.proc.pid) - own  # the rest is the embedded Redis

    spy = Profiler(args.profile, gateway.proc.pid)
    try:
        out["visitor_reply"] = reply_fanout(workers_v, targets, args.reply_trials, request_for, cpu)
    finally:
        spy.stop()
    out["rss_end_mib"] = round(rss_bytes(gateway.worker_pid()) / 2**20, 1)
    close_all(workers_a + workers_v)
    return out


def report(results: dict[str, Any]) -> None:
    base, gw = results["baseline"], results["gateway"]
    s = results["settings"]
    print(
        f"{s['visitors']} visitors + {s['agents']} agents, Redis pool {s['redis_pool']}, "
        f"fd limit {s['fd_limit']}, "
        f"{s['workers']} client processes"
    )
    for name, r in (("baseline", base), ("gateway", gw)):
        print(
            f"{name:9s} RSS {r['rss_before_mib']:7.1f} -> {r['rss_after_mib']:7.1f} MiB: "
            f"{r['bytes_per_connection']:7d} B/connection (agent {r['bytes_per_agent']}, "
            f"visitor {r['bytes_per_visitor']}); connected {r['agents']['connected']} agents "
            f"in {r['agents']['seconds']} s, {r['visitors']['connected']} visitors in "
            f"{r['visitors']['seconds']} s, failed {r['agents']['failed']}+"
            f"{r['visitors']['failed']} {r['agents']['errors'] + r['visitors']['errors']}"
        )
    ratio = gw["bytes_per_connection"] / max(1, base["bytes_per_connection"])
    print(f"memory per connection gateway/baseline: {ratio:.1f}x")
    for key, label in (
        ("agent_event", "event -> every agent"),
        ("visitor_reply", "N replies -> N visitors"),
    ):
        print(line(f"bare-json {label}", base[key]["figures"], 36))
        print(line(f"gateway  {label}", gw[key]["figures"], 36))
        print(ratio_line(f"ratio    {label}", results["ratio"][key], 36))
        print(
            f"  all sockets reached (median of trials): baseline "
            f"{base[key]['all_reached_ms']:.1f} ms, gateway {gw[key]['all_reached_ms']:.1f} ms;"
            f" ({gw[key]['all_reached_ms'] / max(0.001, base[key]['all_reached_ms']):.1f}x);"
            f" missing frames: baseline {base[key]['missing']}, gateway {gw[key]['missing']}"
        )
    bare = base["visitor_reply_bare"]
    print(line("baseline bare N replies -> N visitors", bare["figures"], 36))
    print(ratio_line("ratio    gateway/bare", results["ratio"]["visitor_reply_bare"], 36))
    print(
        f"  CPU per reply in the bursts: bare {bare['cpu_ms_per_reply']:.3f} ms, bare-json "
        f"{base['visitor_reply']['cpu_ms_per_reply']:.3f} ms, gateway "
        f"{gw['visitor_reply']['cpu_ms_per_reply']:.3f} ms + its Redis "
        f"{gw['visitor_reply']['redis_cpu_ms_per_reply']:.3f} ms; burst: all sockets reached "
        f"(median) bare {bare['all_reached_ms']:.1f} ms"
    )
    for text, count in gw.get("log_problems", {}).items():
        print(f"  gateway log, {count}x: {text}")
    print(
        f"  gateway reply statuses {gw['visitor_reply']['statuses']}; conversations for the "
        f"replies set up in {gw['reply_setup_seconds']} s; RSS at the end "
        f"{gw['rss_end_mib']} MiB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=10_000)
    parser.add_argument("--agents", type=int, default=1_000)
    parser.add_argument("--replies", type=int, default=500, help="visitors that get a reply")
    parser.add_argument("--trials", type=int, default=10, help="agent events")
    parser.add_argument("--reply-trials", type=int, default=3, help="bursts of replies")
    parser.add_argument("--per-worker", type=int, default=2500, help="sockets per client process")
    # 10 per process: more concurrent handshakes overflow the gateway's Redis connection pool
    # (redis-py's default of 100, non-blocking), see docs/performance.md.
    parser.add_argument("--concurrency", type=int, default=10, help="handshakes per process")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds before each RSS reading")
    parser.add_argument("--profile", metavar="PATH", help="py-spy folded stacks of the gateway")
    parser.add_argument(
        "--redis-pool",
        type=int,
        default=0,
        help="the gateway's Redis pool size; 0 (default): the gateway's own pool",
    )
    parser.add_argument("--gateway-log", metavar="PATH", help="keep the gateway's log there")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(worker_loop())
        return 0
    fd_limit = raise_fd_limit(args.visitors + args.agents + 500)
    replies = min(args.replies, args.visitors)
    targets = [round(k * args.visitors / replies) for k in range(replies)]  # spread out
    secret = secrets.token_hex(16)
    workers_a = spawn("agent", args.agents, args.per_worker)
    workers_v = spawn("visitor", args.visitors, args.per_worker)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-ws-") as tmp:
        # With --redis-pool, Redis runs beside the gateway and the gateway's URL sets redis-py's
        # pool size (its default, 100, overflows at this scale: see docs/performance.md).
        embedded = EmbeddedRedis(Path(tmp) / "redis-own") if args.redis_pool else None
        redis_url = ""
        if embedded is not None:
            redis_url = f"{embedded.start()}?max_connections={args.redis_pool}"
        # Offers must not expire (nor agents turn away) while the benchmark runs; every visitor
        # connects from 127.0.0.1, so the per-address socket limit (20 by default) is lifted.
        gateway = GatewayProcess(
            Path(tmp),
            redis_url,
            GATEWAY_OFFER_TIMEOUT_SECONDS="3600",
            GATEWAY_WEBCHAT_MAX_SOCKETS_PER_ADDRESS=str(args.visitors + 100),
        )
        try:
            gateway.start()
            parser_in_use = gateway.parser()
            note(f"gateway's Redis reply parser: {parser_in_use}")
            admin = gateway.admin_token()
            started = time.monotonic()
            setup = {
                "admin": admin,
                "secret": secret,
                "api": gateway.api_channel(admin, secret),
                "webchat": gateway.webchat_channel(
                    admin, ORIGIN, messages_per_minute_per_ip=100_000
                ),
                "agents": gateway.agents(admin, args.agents),
            }
            note(f"created {args.agents} agents in {time.monotonic() - started:.0f} s")
            results["baseline"] = run_baseline(args, workers_a, workers_v, targets)
            results["gateway"] = run_gateway(args, gateway, setup, workers_a, workers_v, targets)
        finally:
            for worker in workers_a + workers_v:
                worker.stop()
            gateway.stop()
            if embedded is not None:
                embedded.stop()
            log = Path(tmp) / "gateway.log"
            if args.gateway_log and log.exists():
                shutil.copy(log, args.gateway_log)
            results.setdefault("gateway", {})["log_problems"] = problems(log)
    results["ratio"] = {
        key: ratios(results["gateway"][key]["figures"], results["baseline"][key]["figures"])
        for key in ("agent_event", "visitor_reply")
    }
    results["ratio"]["visitor_reply_bare"] = ratios(
        results["gateway"]["visitor_reply"]["figures"],
        results["baseline"]["visitor_reply_bare"]["figures"],
    )
    results["settings"] = {
        "redis_pool": args.redis_pool or "default",
        "visitors": args.visitors,
        "agents": args.agents,
        "replies": replies,
        "trials": args.trials,
        "reply_trials": args.reply_trials,
        "fd_limit": fd_limit,
        "workers": len(workers_a) + len(workers_v),
        "redis_parser": parser_in_use,
    }
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        report(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
