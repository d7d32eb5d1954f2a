"""Benchmark: ingest throughput of one `gateway serve` process against a bare aiohttp baseline.

A load generator in another process posts signed API-channel messages over loopback; the
gateway answers 202 only once the message is durable in Redis (Inbox.ingest returned). The
baseline is a bare aiohttp handler that reads the body and answers 200, hit by the same
generator in the same run. Prints both rates and their ratio (target: gateway >= 50%).

``--floor`` adds a third server: the least any design that answers only once a message is
durable must do (verify the signature, parse and validate the JSON, append the body to a Redis
stream through the gateway's group commit, answer 202), on the same embedded Redis. Its ratio is
the ceiling for the gateway in one Python process, whatever happens after that append.

    .venv/bin/python bench/ingest.py [--requests 3000] [--concurrency 32] [--rounds 2]
        [--floor] [--no-hiredis] [--profile out.folded]

Machines are noisy: read the ratio, not the absolute numbers. Rounds alternate baseline and
gateway; the ratio uses the median of each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
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
from _serve import GatewayProcess, free_port, wait_http

SENDERS = 500  # distinct customers: most messages append to an open conversation


# --- the baseline server (a subprocess) ---------------------------------------------------
def serve_baseline(port: int) -> None:
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=200)

    async def health(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/channels/{channel}/messages", handler)
    app.router.add_get("/readyz", health)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# --- the floor server (a subprocess): verify, validate, one durable append, answer --------
def serve_floor(port: int, sock: str, secret: str) -> None:
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

    app = web.Application()
    app.on_startup.append(start)
    app.router.add_post("/channels/{channel}/messages", handler)
    app.router.add_get("/readyz", health)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


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


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used: steadier than req/s on a busy machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pid(gateway: GatewayProcess) -> int:
    return gateway.proc.pid if gateway.proc is not None else 0


def redis_cpu(client: redis.Redis) -> float:
    cpu = client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def monitored(sock: str, action: Callable[[], object]) -> tuple[Counter[str], Counter[str]]:
    """Commands the gateway sent (client) and ran inside scripts (lua) while ``action`` ran."""
    client, lua = Counter[str](), Counter[str]()
    ready = threading.Event()

    def watch() -> None:
        with redis.Redis(unix_socket_path=sock).monitor() as mon:
            ready.set()
            for cmd in mon.listen():
                if cmd["command"] == "ECHO bench-stop":
                    return
                name = cmd["command"].split(" ", 1)[0].upper()
                (lua if cmd.get("client_type") == "lua" else client)[name] += 1

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    ready.wait(10)
    action()
    time.sleep(1)  # let the router's work triggered by the last messages finish
    redis.Redis(unix_socket_path=sock).echo("bench-stop")
    thread.join(30)
    return client, lua


def profiler(path: str | None, gateway: GatewayProcess) -> subprocess.Popen[bytes] | None:
    """py-spy sampling the gateway process while the generator runs (folded stacks)."""
    if not path or gateway.proc is None:
        return None
    spy = Path(sys.executable).with_name("py-spy")
    proc = subprocess.Popen(
        [str(spy), "record", "--pid", str(gateway.proc.pid), "--format", "raw",
         "--rate", "200", "--output", path],
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
    parser.add_argument("--profile", metavar="PATH", help="py-spy collapsed stacks of the gateway")
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
    parser.add_argument("--serve-floor", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--redis-sock", help=argparse.SUPPRESS)
    parser.add_argument("--generate", help=argparse.SUPPRESS)
    parser.add_argument("--secret", help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(args.serve_baseline)
        return 0
    if args.serve_floor:
        serve_floor(args.serve_floor, args.redis_sock, args.secret)
        return 0
    if args.generate:
        result = asyncio.run(
            generate(args.generate, args.secret, args.requests, args.concurrency, args.warmup)
        )
        print(json.dumps(result))
        return 0

    secret = secrets.token_hex(16)
    base_port = free_port()
    baseline = subprocess.Popen(
        [sys.executable, __file__, "--serve-baseline", str(base_port)],
        stdout=subprocess.DEVNULL,
    )
    floor: subprocess.Popen[bytes] | None = None
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        gateway = GatewayProcess(Path(tmp))
        # The same gateway without hiredis (redis-py's pure-Python parser), on its own Redis.
        plain = GatewayProcess(Path(tmp) / "plain", hiredis=False)
        try:
            wait_http(f"http://127.0.0.1:{base_port}/readyz")
            gateway.start()
            channel = gateway.api_channel(gateway.admin_token(), secret)
            stats = redis.Redis(unix_socket_path=str(Path(tmp) / "redis" / "redis.sock"))
            urls = {
                "baseline": f"http://127.0.0.1:{base_port}/channels/x/messages",
                "gateway": f"{gateway.base}/channels/{channel}/messages",
            }
            if args.floor:
                floor_port = free_port()
                floor = subprocess.Popen(
                    [sys.executable, __file__, "--serve-floor", str(floor_port),
                     "--redis-sock", str(Path(tmp) / "redis" / "redis.sock"),
                     "--secret", secret],
                    stdout=subprocess.DEVNULL,
                )  # fmt: skip
                wait_http(f"http://127.0.0.1:{floor_port}/readyz")
                urls["floor"] = f"http://127.0.0.1:{floor_port}/channels/x/messages"
            if args.no_hiredis:
                plain.data_dir.mkdir()
                plain.start()
                plain_channel = plain.api_channel(plain.admin_token(), secret)
                urls["gw-plain"] = f"{plain.base}/channels/{plain_channel}/messages"
            rates: dict[str, list[float]] = {name: [] for name in urls}
            pids = {"baseline": baseline.pid, "gateway": _pid(gateway), "gw-plain": _pid(plain),
                    "floor": floor.pid if floor is not None else 0}  # fmt: skip
            cpu_ms: dict[str, list[float]] = {name: [] for name in urls}
            for round_no in range(1, args.rounds + 1):
                for name, url in urls.items():
                    spy = profiler(args.profile, gateway) if name == "gateway" else None
                    cpu_before = redis_cpu(stats)
                    own_before = process_cpu(pids[name])
                    if args.generator == "wrk":
                        result = run_wrk(url, secret, args.seconds, args.concurrency, Path(tmp))
                    else:
                        result = run_generator(url, secret, args.requests, args.concurrency)
                    sent = result["sent"]  # with the warm-up
                    cpu_ms[name].append((process_cpu(pids[name]) - own_before) * 1000 / sent)
                    if spy is not None:
                        spy.send_signal(signal.SIGINT)  # py-spy writes the profile on SIGINT
                        spy.wait(30)
                    rates[name].append(result["rps"])
                    if name in ("gateway", "floor"):
                        busy = redis_cpu(stats) - cpu_before
                        print(f"  embedded Redis CPU ({name}): {busy * 1e6 / sent:.0f} us "
                              f"per message (warm-up included)")  # fmt: skip
                    print(f"round {round_no} {name:9s}: {result['rps']:8.0f} req/s "
                          f"({result['ok']}/{result['requests']} 2xx in "
                          f"{result['seconds']:.2f}s, statuses {result['statuses']}), "
                          f"server CPU {cpu_ms[name][-1]:.3f} ms per request")  # fmt: skip
            # Redis commands per message, counted with MONITOR (slows Redis: not timed).
            n = 200
            client, lua = monitored(
                str(Path(tmp) / "redis" / "redis.sock"),
                lambda: run_generator(urls["gateway"], secret, n, 4, warmup=0),
            )
            top = ", ".join(f"{c} {k}" for c, k in client.most_common(10))
            print(f"redis commands per message sent by the gateway: "
                  f"{sum(client.values()) / n:.1f} ({top}); "
                  f"run inside scripts: {sum(lua.values()) / n:.1f}")  # fmt: skip
        finally:
            gateway.stop()
            plain.stop()
            for server in (baseline, floor):
                if server is not None:
                    server.terminate()
                    server.wait()
    base = statistics.median(rates["baseline"])
    gw = statistics.median(rates["gateway"])
    ratio = gw / base
    print(f"baseline (bare aiohttp)      : {base:8.0f} req/s (median)")
    print(f"gateway (signed, durable)    : {gw:8.0f} req/s (median)")
    print(f"ratio gateway/baseline       : {ratio:8.1%}  (target >= 50%)")
    base_cpu = statistics.median(cpu_ms["baseline"])
    gw_cpu = statistics.median(cpu_ms["gateway"])
    print(f"server CPU per request       : baseline {base_cpu:.3f} ms, gateway {gw_cpu:.3f} ms "
          f"(baseline/gateway {base_cpu / gw_cpu:.1%}: the rate ratio an idle machine would "
          f"reach)")  # fmt: skip
    if rates.get("floor"):
        floor_rate = statistics.median(rates["floor"])
        floor_cpu = statistics.median(cpu_ms["floor"])
        print(f"floor (verify, validate, XADD): {floor_rate:8.0f} req/s (median), ratio to "
              f"baseline {floor_rate / base:.1%}; server CPU {floor_cpu:.3f} ms per request "
              f"(baseline/floor {base_cpu / floor_cpu:.1%})")  # fmt: skip
    if rates.get("gw-plain"):
        plain_rate = statistics.median(rates["gw-plain"])
        print(f"gateway without hiredis      : {plain_rate:8.0f} req/s (median), "
              f"ratio to baseline {plain_rate / base:.1%}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
