"""Benchmark: ingest throughput of one `gateway serve` process against a bare aiohttp baseline.

A load generator in another process posts signed API-channel messages over loopback; the
gateway answers 202 only once the message is durable in Redis (Inbox.ingest returned). The
baselines are bare aiohttp handlers hit by the same generator in the same run: one reads the
body and answers 200, ``bare-json`` also parses it and answers a JSON object. Prints the rates,
the server CPU per request (the figure that counts on a shared machine), the embedded Redis's
CPU and INFO commandstats per message, and which reply parser redis-py uses.

``--floor`` adds a third server: the least any design that answers only once a message is
durable must do (verify the signature, parse and validate the JSON, append the body to a Redis
stream through the gateway's group commit, answer 202), on the same embedded Redis. Its ratio is
the ceiling for the gateway in one Python process, whatever happens after that append.

    .venv/bin/python bench/ingest.py [--requests 3000] [--concurrency 32] [--rounds 2]
        [--floor] [--no-hiredis] [--workers 2] [--profile out.folded]

``--workers N`` also runs a `gateway serve --workers N` (its own embedded Redis) and prints its
CPU per message beside one worker's.

``--profile PATH`` samples each gateway with py-spy in every round (PATH.r<round>, another
gateway's PATH.<name>.r<round>) and prints where its CPU per message goes: search analysis,
search's event apply and poll, the events' receive and dispatch, router, HTTP, Redis client,
other (``breakdown``; samples of the idle epoll wait and idle threads left out).

Machines are noisy: read the ratio, not the absolute numbers. Rounds alternate baseline and
gateway; the ratio uses the median of each.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import hashlib
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import aiohttp
import redis
from aiohttp import web

from adapters.api.signing import HEADER, sign

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _serve import GatewayProcess, free_port, tree_cpu, wait_http

SENDERS = 500  # distinct customers: most messages append to an open conversation


# --- the baseline server (a subprocess) ---------------------------------------------------
def serve_baseline(port: int, answer_json: bool = False) -> None:
    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        if answer_json:  # bare-json: parse the body, answer a JSON object
            payload = json.loads(body)
            return web.json_response({"message_id": payload.get("message_id")}, status=202)
        return web.Response(status=200)

    async def health(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/channels/{channel}/messages", handler)
    app.router.add_get("/readyz", health)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# --- the floor server (a subprocess): verify, validate, one durable append, answer --------
def serve_floor(port: int, sock: str, secret: str, processes: int = 1) -> None:
    """``processes`` > 1: that many copies on one port (SO_REUSEPORT, as `gateway serve
    --workers` shares its listening socket), forked before any loop exists; the copies die
    with the first (PR_SET_PDEATHSIG), whose process tree the CPU is read from."""
    from redis.asyncio import Redis

    from adapters.api.payload import InboundPayload
    from adapters.api.signing import verify
    from gateway.batching import CommandBatcher

    async def start(app: web.Application) -> None:
        app["batch"] = CommandBatcher(Redis(unix_socket_path=sock, max_connections=64))

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        if not verify(secret, body, request.headers.get(HEADER)):
            return web.json_response({"error": "bad_signature"}, status=401)
        payload = InboundPayload.model_validate(json.loads(body))
        entry = await request.app["batch"].command("XADD", "bench:floor", "*", "body", body)
        reply = {"id": entry.decode(), "message_id": payload.message_id}
        return web.json_response(reply, status=202)

    async def health(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    for _ in range(processes - 1):
        if os.fork() == 0:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
            break
    app = web.Application()
    app.on_startup.append(start)
    app.router.add_post("/channels/{channel}/messages", handler)
    app.router.add_get("/readyz", health)
    web.run_app(
        app, host="127.0.0.1", port=port, print=None, access_log=None, reuse_port=processes > 1
    )


# --- the load generator (a subprocess) ----------------------------------------------------
def bodies(secret: str, count: int, run: str) -> list[tuple[bytes, str]]:
    out = []
    for i in range(count):
        payload = {
            "message_id": f"{run}-{i}",
            "sender": {"id": f"cust-{i % SENDERS}", "name": f"Customer {i % SENDERS}"},
            "text": f"Hello, my order {i} has not arrived yet. Can you help?",
        }
        body = json.dumps(payload).encode()
        out.append((body, sign(secret, body)))
    return out


async def generate(url: str, secret: str, count: int, concurrency: int, warmup: int) -> dict:
    run = secrets.token_hex(4)
    work = bodies(secret, warmup + count, run)  # signed before the clock starts
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def post(body: bytes, signature: str) -> int:
            headers = {HEADER: signature, "Content-Type": "application/json"}
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                return resp.status

        async def worker(items: list[tuple[bytes, str]], record: bool) -> None:
            while items:
                body, signature = items.pop()
                status = await post(body, signature)
                if record:
                    statuses[status] = statuses.get(status, 0) + 1

        warm = work[:warmup]
        await asyncio.gather(*(worker(warm, False) for _ in range(concurrency)))
        timed = work[warmup:]
        start = time.perf_counter()
        await asyncio.gather(*(worker(timed, True) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    return {"requests": count, "ok": ok, "seconds": elapsed, "rps": ok / elapsed,
            "statuses": statuses, "sent": warmup + count}  # fmt: skip


def run_generator(
    url: str, secret: str, count: int, concurrency: int, warmup: int | None = None
) -> dict:
    if warmup is None:
        warmup = min(300, count // 5)
    out = subprocess.run(
        [sys.executable, __file__, "--generate", url, "--secret", secret,
         "--requests", str(count), "--concurrency", str(concurrency), "--warmup", str(warmup)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout)


# wrk cannot sign: each thread walks its own share of bodies signed beforehand (a Lua table),
# so no two requests carry the same message id; statuses are counted per thread.
WRK_SCRIPT = """
local data = {}
for line in io.lines(os.getenv("BENCH_WRK_DATA")) do
  local tab = line:find("\\t", 1, true)
  table.insert(data, {line:sub(tab + 1), line:sub(1, tab - 1)})
end
local threads = {}
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  step = tonumber(args[1])
  i = tid + 1
  statuses = {}
end
function request()
  local item = data[i]
  i = i + step
  if i > #data then i = tid + 1 end
  return wrk.format("POST", nil, {["Content-Type"] = "application/json",
    ["X-Gateway-Signature"] = item[2]}, item[1])
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      merged[status] = (merged[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(merged) do table.insert(parts, string.format('"%d": %d', status, n)) end
  io.write(string.format('BENCH {"requests": %d, "seconds": %f, "statuses": {%s}}\\n',
    summary.requests, summary.duration / 1e6, table.concat(parts, ", ")))
end
"""


def wrk_data(path: Path, secret: str, count: int) -> None:
    """One request a line: signature, tab, body (JSON bodies hold no raw tab or newline)."""
    items = bodies(secret, count, secrets.token_hex(4))
    path.write_bytes(b"".join(sig.encode() + b"\t" + body + b"\n" for body, sig in items))


def run_wrk(url: str, secret: str, seconds: float, concurrency: int, workdir: Path) -> dict:
    """wrk (2 threads) for ``seconds`` after a 1-second warm-up, each on fresh message ids."""
    script = workdir / "ingest.lua"
    script.write_text(WRK_SCRIPT)
    runs = []
    for duration, count in ((1.0, 30_000), (seconds, 150_000)):
        data = workdir / "bodies.lua"
        wrk_data(data, secret, count)
        out = subprocess.run(
            ["wrk", "-t2", f"-c{concurrency}", f"-d{duration:g}s", "-s", str(script), url,
             "--", "2"],
            check=True, capture_output=True, text=True,
            env={**os.environ, "BENCH_WRK_DATA": str(data)},
        )  # fmt: skip
        line = next(x for x in out.stdout.splitlines() if x.startswith("BENCH "))
        runs.append(json.loads(line[6:]))
    timed = runs[-1]
    statuses = {int(k): v for k, v in timed["statuses"].items()}
    ok = sum(n for status, n in statuses.items() if 200 <= status < 300)
    return {"requests": timed["requests"], "ok": ok, "seconds": timed["seconds"],
            "rps": ok / timed["seconds"], "statuses": statuses,
            "sent": sum(r["requests"] for r in runs)}  # fmt: skip


def server_cpu(server: GatewayProcess | subprocess.Popen[bytes]) -> float:
    """CPU seconds (user + system) a server has used, its worker processes included (not the
    embedded redis-server): steadier than req/s on a busy machine."""
    if isinstance(server, GatewayProcess):
        return server.cpu_seconds()
    return tree_cpu(server.pid)


def redis_cpu(client: redis.Redis) -> float:
    cpu = client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


SCRIPT_COMMANDS = ("evalsha", "eval", "fcall")


def commandstats(client: redis.Redis) -> dict[str, tuple[int, int]]:
    """INFO commandstats: command -> (calls, usec). Commands run inside scripts count under
    their own names too (and their time within the script's)."""
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"]))
            for name, v in stats.items()}  # fmt: skip


def commandstats_delta(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], messages: int
) -> dict[str, float]:
    """Per message: script calls and their usec; every other command's calls and usec (the
    ones a script ran, plus PUBLISH, the router's reads, ...); INFO and the like left out."""
    out = {"script_calls": 0.0, "script_usec": 0.0, "other_calls": 0.0, "other_usec": 0.0}
    top: Counter[str] = Counter()
    for name, (calls, usec) in after.items():
        if name in ("info", "ping", "monitor", "echo", "hello", "client|setinfo"):
            continue
        calls0, usec0 = before.get(name, (0, 0))
        kind = "script" if name in SCRIPT_COMMANDS else "other"
        out[f"{kind}_calls"] += (calls - calls0) / messages
        out[f"{kind}_usec"] += (usec - usec0) / messages
        if kind == "other" and calls > calls0:
            top[name] = calls - calls0
    out["top"] = ", ".join(f"{k} {n / messages:.2f}" for k, n in top.most_common(8))  # type: ignore[assignment]
    return out


def script_names() -> dict[str, str]:
    """SHA1 -> name of every Lua script of the project (alone, or after a prelude of its
    folder, as gateway/scripts.py loads them)."""
    root = Path(__file__).resolve().parents[1]
    names = {}
    for path in [*root.glob("*/lua/*.lua"), *root.glob("*/*/lua/*.lua")]:
        text = path.read_text(encoding="utf-8")
        names[hashlib.sha1(text.encode()).hexdigest()] = path.stem
        for prelude in path.parent.glob("_*.lua"):
            both = prelude.read_text(encoding="utf-8") + "\n" + text
            names[hashlib.sha1(both.encode()).hexdigest()] = path.stem
    return names


def monitored(
    sock: str, action: Callable[[], object]
) -> tuple[Counter[str], Counter[str], Counter[str], Counter[str]]:
    """Commands the gateway sent (client) and ran inside scripts (lua) while ``action`` ran;
    calls of each script and the commands run inside them (MONITOR shows a script's commands
    right after its EVALSHA: scripts are atomic)."""
    client, lua = Counter[str](), Counter[str]()
    calls, inside = Counter[str](), Counter[str]()
    names = script_names()
    ready = threading.Event()

    def watch() -> None:
        current = "?"
        with redis.Redis(unix_socket_path=sock).monitor() as mon:
            ready.set()
            for cmd in mon.listen():
                if cmd["command"] == "ECHO bench-stop":
                    return
                words = cmd["command"].split(" ", 2)
                name = words[0].upper()
                if cmd.get("client_type") == "lua":
                    lua[name] += 1
                    inside[current] += 1
                    continue
                client[name] += 1
                if name == "EVALSHA" and len(words) > 1:
                    current = names.get(words[1].strip('"'), words[1][:8])
                    calls[current] += 1

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    ready.wait(10)
    action()
    time.sleep(1)  # let the router's work triggered by the last messages finish
    redis.Redis(unix_socket_path=sock).echo("bench-stop")
    thread.join(30)
    return client, lua, calls, inside


def profiler(path: str | None, gateway: GatewayProcess) -> subprocess.Popen[bytes] | None:
    """py-spy sampling the gateway process while the generator runs (folded stacks)."""
    if not path or gateway.proc is None:
        return None
    spy = Path(sys.executable).with_name("py-spy")
    proc = subprocess.Popen(
        [str(spy), "record", "--pid", str(gateway.proc.pid), "--subprocesses", "--format",
         "raw", "--rate", "200", "--output", path],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(1)  # attached before the load starts
    return proc


# --- the orchestration --------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--no-hiredis",
        action="store_true",
        help="also run a gateway without hiredis (pure-Python Redis parser)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="also run a gateway with this many worker processes (its own embedded Redis)",
    )
    parser.add_argument(
        "--profile",
        metavar="PATH",
        help="py-spy raw stacks of the gateway per round (PATH.r<n>; others: PATH.<name>.r<n>)"
        " and where its CPU goes",
    )
    parser.add_argument(
        "--generator",
        choices=("aiohttp", "wrk"),
        default="aiohttp",
        help="load generator: an aiohttp client process (default) or wrk (apt install wrk)",
    )
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="with wrk: seconds per measured run"
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also run the floor server: verify, validate, one XADD, answer (no inbox)",
    )
    parser.add_argument("--serve-baseline", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-floor", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--floor-processes", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--redis-sock", help=argparse.SUPPRESS)
    parser.add_argument("--generate", help=argparse.SUPPRESS)
    parser.add_argument("--secret", help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(args.serve_baseline, args.serve_json)
        return 0
    if args.serve_floor:
        serve_floor(args.serve_floor, args.redis_sock, args.secret, args.floor_processes)
        return 0
    if args.generate:
        result = asyncio.run(
            generate(args.generate, args.secret, args.requests, args.concurrency, args.warmup)
        )
        print(json.dumps(result))
        return 0
    return orchestrate(args)


def orchestrate(args: argparse.Namespace) -> int:
    if args.generator == "wrk" and shutil.which("wrk") is None:
        print(
            "wrk is not installed (apt install wrk); or leave out --generator wrk", file=sys.stderr
        )
        return 2
    secret = secrets.token_hex(16)
    servers: dict[str, GatewayProcess | subprocess.Popen[bytes]] = {}
    urls: dict[str, str] = {}
    stats: dict[str, redis.Redis] = {}  # the embedded Redis each server writes to
    gateways: list[GatewayProcess] = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        try:
            for name, as_json in (("baseline", False), ("bare-json", True)):
                port = free_port()
                command = [sys.executable, __file__, "--serve-baseline", str(port)]
                servers[name] = subprocess.Popen(
                    command + (["--serve-json"] if as_json else []), stdout=subprocess.DEVNULL
                )
                wait_http(f"http://127.0.0.1:{port}/readyz")
                urls[name] = f"http://127.0.0.1:{port}/channels/x/messages"
            wanted = [("gateway", GatewayProcess(Path(tmp) / "gw"))]
            if args.workers > 1:
                name = f"gw-{args.workers}w"
                wanted.append((name, GatewayProcess(Path(tmp) / name, workers=args.workers)))
            if args.no_hiredis:  # the same gateway, redis-py's pure-Python parser
                wanted.append(("gw-plain", GatewayProcess(Path(tmp) / "plain", hiredis=False)))
            for name, gateway in wanted:
                gateway.data_dir.mkdir()
                gateways.append(gateway)
                gateway.start()
                channel = gateway.api_channel(gateway.admin_token(), secret)
                servers[name] = gateway
                urls[name] = f"{gateway.base}/channels/{channel}/messages"
                stats[name] = redis.Redis(unix_socket_path=str(gateway.redis_socket))
                print(f"{name}: {gateway.workers} worker(s), Redis reply parser: "
                      f"{gateway.parser()}")  # fmt: skip
            sock = str(gateways[0].redis_socket)
            if args.floor:
                # With --workers N the floor runs as N processes too: what N processes cost
                # per message before any gateway work (the machine's own share of the ratio).
                floors = [("floor", 1)]
                if args.workers > 1:
                    floors.append((f"floor-{args.workers}p", args.workers))
                for name, processes in floors:
                    floor_port = free_port()
                    servers[name] = subprocess.Popen(
                        [sys.executable, __file__, "--serve-floor", str(floor_port),
                         "--redis-sock", sock, "--secret", secret,
                         "--floor-processes", str(processes)],
                        stdout=subprocess.DEVNULL,
                    )  # fmt: skip
                    wait_http(f"http://127.0.0.1:{floor_port}/readyz")
                    urls[name] = f"http://127.0.0.1:{floor_port}/channels/x/messages"
                    stats[name] = stats["gateway"]  # same Redis, measured while alone
            figures = run_rounds(args, secret, servers, urls, stats, Path(tmp))
            # Redis commands per message, counted with MONITOR (slows Redis: not timed).
            n = 200
            client, lua, calls, inside = monitored(
                sock, lambda: run_generator(urls["gateway"], secret, n, 4, warmup=0)
            )
            top = ", ".join(f"{c} {k}" for c, k in client.most_common(10))
            print(f"redis commands per message sent by the gateway (MONITOR, {n} messages, "
                  f"4 at a time): {sum(client.values()) / n:.1f} ({top}); "
                  f"run inside scripts: {sum(lua.values()) / n:.1f}")  # fmt: skip
            per_script = ", ".join(
                f"{name} {count / n:.2f} calls x {inside[name] / count:.1f} commands"
                for name, count in calls.most_common()
            )
            print(f"  scripts per message: {per_script}")
        finally:
            for server in servers.values():
                if isinstance(server, GatewayProcess):
                    server.stop()
                else:
                    server.terminate()
                    server.wait()
    summarize(args, figures)
    return 0


def run_rounds(
    args: argparse.Namespace,
    secret: str,
    servers: dict[str, GatewayProcess | subprocess.Popen[bytes]],
    urls: dict[str, str],
    stats: dict[str, redis.Redis],
    workdir: Path,
) -> dict[str, dict[str, list]]:
    """Rounds alternating the servers; per server and round: rate, server CPU per request,
    Redis CPU and commandstats per message."""
    figures: dict[str, dict[str, list]] = {
        name: {"rps": [], "cpu_ms": [], "redis_us": [], "cmd": []} for name in urls
    }
    for round_no in range(1, args.rounds + 1):
        for name, url in urls.items():
            server = servers[name]
            spy = None
            if args.profile and isinstance(server, GatewayProcess):  # one file per gateway
                path = args.profile if name == "gateway" else f"{args.profile}.{name}"
                spy = profiler(f"{path}.r{round_no}", server)
            redis_client = stats.get(name)
            if redis_client is not None:
                cpu_before, cmd_before = redis_cpu(redis_client), commandstats(redis_client)
            own_before = server_cpu(server)
            if args.generator == "wrk":
                result = run_wrk(url, secret, args.seconds, args.concurrency, workdir)
            else:
                result = run_generator(url, secret, args.requests, args.concurrency)
            sent = result["sent"]  # with the warm-up
            figures[name]["cpu_ms"].append((server_cpu(server) - own_before) * 1000 / sent)
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes the profile on SIGINT
                spy.wait(30)
            figures[name]["rps"].append(result["rps"])
            if redis_client is not None:
                time.sleep(0.3)  # the router's work triggered by the last messages
                busy = redis_cpu(redis_client) - cpu_before
                figures[name]["redis_us"].append(busy * 1e6 / sent)
                cmd = commandstats_delta(cmd_before, commandstats(redis_client), sent)
                figures[name]["cmd"].append(cmd)
                print(f"  embedded Redis ({name}), per message (warm-up included): CPU "
                      f"{busy * 1e6 / sent:.0f} us; script calls {cmd['script_calls']:.2f} "
                      f"({cmd['script_usec']:.0f} us); other commands {cmd['other_calls']:.1f} "
                      f"({cmd['other_usec']:.0f} us; {cmd['top']})")  # fmt: skip
            print(f"round {round_no} {name:9s}: {result['rps']:8.0f} req/s "
                  f"({result['ok']}/{result['requests']} 2xx in "
                  f"{result['seconds']:.2f}s, statuses {result['statuses']}), "
                  f"server CPU {figures[name]['cpu_ms'][-1]:.3f} ms per request")  # fmt: skip
    return figures


# Where a gateway's CPU goes, from py-spy's raw stacks: each sample counts once, for the first
# category whose test its stack passes (frames are "function (file:line)").
def _calls(*names: str) -> Callable[[list[str]], bool]:
    return lambda frames: any(f.startswith(n + " (") for f in frames for n in names)


def _in_file(part: str) -> Callable[[list[str]], bool]:
    return lambda frames: any(part in f.rpartition(" (")[2] for f in frames)


CATEGORIES: list[tuple[str, Callable[[list[str]], bool]]] = [
    ("search: analysis (tokens, terms)", _calls("text_terms", "message_terms", "contact_terms")),
    ("search: applying events", _calls("Indexer._apply_received", "Search.on_event")),
    ("search: poll", _calls("Search._run")),
    ("events: pub/sub receive + decode", _calls("subscribe_forever")),
    ("events: dispatch to other listeners", _calls("EventBus._dispatch_waiting")),
    ("router", _in_file("router/")),
    ("Redis client: group commit", _calls("CommandBatcher._flush", "CommandBatcher._send")),
    ("HTTP: request + handler (inbox)", _calls("RequestHandler._handle_request",
        "RequestHandler.start", "RequestHandler.data_received", "RequestHandler.finish_response")),
    ("Redis client: other", _in_file("redis/")),
    ("other (event loop, socket I/O, timers)", lambda frames: True),
]  # fmt: skip
# Waiting, not working: the event loop's epoll wait and an idle executor thread.
IDLE_LEAVES = ("EpollSelector.select (selectors.py", "_worker (concurrent/futures/thread.py:81)")


def breakdown(paths: list[Path]) -> tuple[Counter[str], int]:
    """Samples per category over these py-spy raw files, and the total (idle left out)."""
    counts: Counter[str] = Counter()
    total = 0
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            frames = stack.split(";")
            if not frames or frames[-1].startswith(IDLE_LEAVES):
                continue
            total += int(n)
            counts[next(name for name, test in CATEGORIES if test(frames))] += int(n)
    return counts, total


def print_breakdown(args: argparse.Namespace, cpu_ms: dict[str, float]) -> None:
    """Per gateway: each category's share of the samples, and as us per message (the share
    of the median CPU per message; machines are noisy: read the shares)."""
    shares = {}
    for name in cpu_ms:
        base = args.profile if name == "gateway" else f"{args.profile}.{name}"
        rounds = [Path(f"{base}.r{n}") for n in range(1, args.rounds + 1)]
        counts, total = breakdown(rounds)
        if total:
            shares[name] = {k: counts[k] / total for k, _ in CATEGORIES}
    if not shares:
        return
    names = list(shares)
    print("\nwhere the CPU per message goes (py-spy samples, idle left out): share, us/message")
    print(f"{'':40s}" + "".join(f"{n:>18s}" for n in names))
    for category, _ in CATEGORIES:
        cells = ""
        for n in names:
            share = shares[n][category]
            cells += f"{share:7.1%} {share * cpu_ms[n] * 1000:6.0f} us "
        print(f"{category:40s}{cells}")


def summarize(args: argparse.Namespace, figures: dict[str, dict[str, list]]) -> None:
    med = {name: {k: statistics.median(f[k]) for k in ("rps", "cpu_ms", "redis_us") if f[k]}
           for name, f in figures.items()}  # fmt: skip
    spread = {name: (min(f["cpu_ms"]), max(f["cpu_ms"])) for name, f in figures.items()}
    base = med["baseline"]
    print(f"\n{'server':10s} {'req/s':>8s} {'rate/baseline':>14s} {'CPU ms/req':>11s} "
          f"{'(min-max)':>15s} {'CPU/baseline':>13s}")  # fmt: skip
    for name, m in med.items():
        lo, hi = spread[name]
        print(f"{name:10s} {m['rps']:8.0f} {m['rps'] / base['rps']:14.1%} {m['cpu_ms']:11.3f} "
              f"{f'({lo:.3f}-{hi:.3f})':>15s} {m['cpu_ms'] / base['cpu_ms']:12.1f}x")  # fmt: skip
    gw = med["gateway"]
    if "floor" in med:
        print(f"gateway CPU per message / floor's: {gw['cpu_ms'] / med['floor']['cpu_ms']:.2f}x "
              f"(goal <= 2.5x)")  # fmt: skip
    if args.workers > 1:
        many = med[f"gw-{args.workers}w"]
        print(f"CPU per message, 1 worker vs {args.workers}: {gw['cpu_ms']:.3f} ms vs "
              f"{many['cpu_ms']:.3f} ms = {many['cpu_ms'] / gw['cpu_ms']:.2f}x (goal <= 1.15x); "
              f"req/s {gw['rps']:.0f} vs {many['rps']:.0f}")  # fmt: skip
        floors = med.get("floor"), med.get(f"floor-{args.workers}p")
        if floors[0] and floors[1]:
            one, more = floors[0]["cpu_ms"], floors[1]["cpu_ms"]
            print(f"  the floor in 1 process vs {args.workers}: {one:.3f} ms vs {more:.3f} ms = "
                  f"{more / one:.2f}x (the same split, no gateway work); gateway's extra CPU "
                  f"per message with {args.workers} workers: "
                  f"{(many['cpu_ms'] - gw['cpu_ms']) * 1000:.0f} us, the floor's: "
                  f"{(more - one) * 1000:.0f} us")  # fmt: skip
    for name in figures:
        cmds = figures[name]["cmd"]
        if not cmds or name.startswith("floor"):
            continue
        calls = statistics.median(c["script_calls"] for c in cmds)
        inner = statistics.median(c["other_calls"] for c in cmds)
        print(f"Redis per message ({name}): CPU {med[name]['redis_us']:.0f} us (goal <= 60), "
              f"script calls {calls:.2f} (goal 1), other commands {inner:.1f} (those run "
              f"inside scripts, goal <= 20, plus the router's and PUBLISH)")  # fmt: skip
    if "gw-plain" in med:
        plain = med["gw-plain"]["cpu_ms"]
        print(f"gateway without hiredis: CPU {plain:.3f} ms per message, "
              f"{plain / gw['cpu_ms']:.2f}x the gateway with hiredis")  # fmt: skip
    if args.profile:
        servers = ("baseline", "bare-json")
        gateways = [n for n in med if n not in servers and not n.startswith("floor")]
        print_breakdown(args, {n: med[n]["cpu_ms"] for n in gateways})


if __name__ == "__main__":
    raise SystemExit(main())
