"""Benchmark: end-to-end latency from an inbound API-channel POST to the offer on an agent's
WebSocket, at a fixed rate, against a bare aiohttp baseline measured the same way in the same run.

    .venv/bin/python bench/e2e_latency.py [--seconds 60] [--rate 20] [--rounds 1] [--json]
                                               [--profile out.folded]

One `gateway serve` process (embedded Redis, AOF everysec, its own temp dir) with an admin, an
API channel and enough online agents (capacity 100 each, offers that never expire during the
run) that capacity never runs out. A load generator in its own process holds every agent's
WebSocket (/api/v1/ws) and posts signed messages, each from a new customer, open-loop: send i is
scheduled at start + i / rate and does not wait for the previous one. Latency = arrival of the
`conversation.offered` event for that conversation on any agent socket minus the *scheduled* send
time (a late generator counts against the figure, never hides it).

Baseline: a bare aiohttp server (bench/_wsbaseline.py, another process) whose POST handler
parses the JSON body and pushes one frame to a WebSocket client held by the same generator;
same rate, same duration, same clients, same measurement. Rounds run baseline then gateway.
Machines are noisy: read the ratio, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from adapters.api.signing import HEADER, sign

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _wsbaseline
from _latency import line, ratio_line, ratios, summary
from _serve import GatewayProcess, Profiler, http_json
from _wsauth import agent_socket

CAPACITY = 100  # per agent (the API's maximum)
OFFERED = '"conversation.offered"'
SETTLE_SECONDS = 20.0  # how long to wait for the last offers after the last send


# --- the load generator (a subprocess) ----------------------------------------------------
async def run_target(
    target: dict[str, Any], rate: float, seconds: float, warmup: float, secret: str
) -> dict[str, Any]:
    """One timed run against one target; returns its latencies (s) and counters."""
    run = secrets.token_hex(4)
    total = int((warmup + seconds) * rate)
    skip = int(warmup * rate)
    work = []
    for i in range(total):  # signed before the clock starts
        body = json.dumps(
            {
                "message_id": f"{run}-{i}",
                "sender": {"id": f"cust-{run}-{i}", "name": f"Customer {i}"},
                # No number in the text: "315" alone is a media-exposure keyword (sensitive class,
                # offered to supervisors only), which would leave that conversation unoffered here.
                "text": "Hello, my order has not arrived yet. Can you help?",
            }
        ).encode()
        work.append((target["post_urls"][i % len(target["post_urls"])], body, sign(secret, body)))
    arrivals: dict[str, float] = {}
    sent: list[tuple[float, str, int, float]] = []  # (due, conversation id, status, lag)
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:
        for token in target.get("online_tokens", []):  # presence lapses after 90 s unseen
            async with session.put(
                target["status_url"],
                json={"status": "online"},
                headers={"Authorization": f"Bearer {token}"},
            ) as resp:
                assert resp.status == 200, await resp.text()
        sockets = []
        for url in target["ws_urls"]:
            bare, headers = agent_socket(url)
            sockets.append(await session.ws_connect(bare, headers=headers, heartbeat=None))
        for ws in sockets:
            hello = await ws.receive_json(timeout=30)
            assert hello["type"] == "hello", hello

        async def read(ws: aiohttp.ClientWebSocketResponse) -> None:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT and OFFERED in msg.data[:60]:
                    now = time.perf_counter()
                    conversation_id = json.loads(msg.data)["data"]["conversation_id"]
                    arrivals.setdefault(conversation_id, now)

        readers = [asyncio.create_task(read(ws)) for ws in sockets]

        async def post(url: str, body: bytes, signature: str, due: float) -> None:
            lag = time.perf_counter() - due
            headers = {HEADER: signature, "Content-Type": "application/json"}
            try:
                async with session.post(url, data=body, headers=headers) as resp:
                    status = resp.status
                    data = await resp.json() if status < 300 else {}
            except aiohttp.ClientError:
                status, data = 0, {}
            sent.append((due, str(data.get("conversation_id", "")), status, lag))

        start = time.perf_counter() + 0.2
        posts = []
        for i, (url, body, signature) in enumerate(work):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            posts.append(asyncio.create_task(post(url, body, signature, due)))
        await asyncio.gather(*posts)
        deadline = time.perf_counter() + SETTLE_SECONDS
        while time.perf_counter() < deadline:
            if all(cid in arrivals for _, cid, status, _ in sent if status == 202):
                break
            await asyncio.sleep(0.05)
        for task in readers:
            task.cancel()
        for ws in sockets:
            await ws.close()
    sent.sort()
    measured = sent[skip:]
    latencies = [arrivals[cid] - due for due, cid, _, _ in measured if cid in arrivals]
    statuses: dict[str, int] = {}
    for _, _, status, _ in measured:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    missing = [(round(due - start, 2), cid) for due, cid, _, _ in measured if cid not in arrivals]
    return {
        "latencies": latencies,
        "sent": len(measured),
        "missing": len(measured) - len(latencies),
        "missing_ids": missing[:10],  # (scheduled second, conversation id)
        "statuses": statuses,
        "max_lag_ms": round(max((lag for *_, lag in measured), default=0) * 1000, 2),
    }


async def generate(config: dict[str, Any]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for _ in range(config["rounds"]):
        for name, target in config["targets"].items():
            got = await run_target(
                target, config["rate"], config["seconds"], config["warmup"], config["secret"]
            )
            into = results.setdefault(
                name, {"latencies": [], "sent": 0, "missing": 0, "statuses": {}, "max_lag_ms": 0.0}
            )
            into["latencies"] += got["latencies"]
            into["sent"] += got["sent"]
            into["missing"] += got["missing"]
            into.setdefault("missing_ids", []).extend(got["missing_ids"])
            into["max_lag_ms"] = max(into["max_lag_ms"], got["max_lag_ms"])
            for status, n in got["statuses"].items():
                into["statuses"][status] = into["statuses"].get(status, 0) + n
    for into in results.values():
        into["figures"] = summary(into.pop("latencies"))
    return results


def run_generator(config: dict[str, Any], workdir: Path) -> dict[str, Any]:
    path = workdir / "e2e-config.json"
    path.write_text(json.dumps(config))
    out = subprocess.run(
        [sys.executable, __file__, "--generate", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


# --- the orchestration --------------------------------------------------------------------
def conversation_state(gateway: GatewayProcess, token: str, conversation_id: str) -> dict[str, Any]:
    """What became of a conversation whose offer never arrived (for the report)."""
    if not conversation_id:
        return {"id": "", "problem": "no conversation id in the 202 answer"}
    url = f"{gateway.base}/api/v1/conversations/{conversation_id}"
    conv = http_json("GET", url, token=token)["conversation"]
    fields = ("id", "status", "offered_to", "assignee", "created_at", "waiting_since")
    return {key: conv.get(key) for key in fields}


def agents_needed(rate: float, seconds: float, warmup: float, rounds: int) -> int:
    conversations = rounds * (seconds + warmup) * rate
    return max(4, math.ceil(conversations * 1.25 / CAPACITY))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds per run")
    parser.add_argument("--rate", type=float, default=20.0, help="messages per second")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds first")
    parser.add_argument("--rounds", type=int, default=1, help="baseline + gateway runs")
    parser.add_argument("--agents", type=int, help="online agents (default: enough capacity)")
    parser.add_argument("--profile", metavar="PATH", help="py-spy folded stacks of the gateway")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--generate", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        print(json.dumps(asyncio.run(generate(json.loads(Path(args.generate).read_text())))))
        return 0

    secret = secrets.token_hex(16)
    count = args.agents or agents_needed(args.rate, args.seconds, args.warmup, args.rounds)
    baseline, base_url = _wsbaseline.start()
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        # Offers must not expire (and agents must not be marked away) during the run.
        gateway = GatewayProcess(Path(tmp), GATEWAY_OFFER_TIMEOUT_SECONDS="3600")
        try:
            gateway.start()
            parser_in_use = gateway.parser()
            token = gateway.admin_token()
            channel = gateway.api_channel(token, secret)
            agents = gateway.agents(token, count, CAPACITY)
            ws_base = gateway.base.replace("http://", "ws://")
            base_ws = base_url.replace("http://", "ws://")
            config = {
                "rate": args.rate,
                "seconds": args.seconds,
                "warmup": args.warmup,
                "rounds": args.rounds,
                "secret": secret,
                "targets": {
                    "baseline": {
                        "ws_urls": [f"{base_ws}/ws?group=agents&id={i}" for i in range(count)],
                        "post_urls": [
                            f"{base_url}/push/agents/{i}?type=conversation.offered"
                            for i in range(count)
                        ],
                    },
                    "gateway": {
                        "ws_urls": [f"{ws_base}/api/v1/ws?token={t}" for _, t in agents],
                        "post_urls": [f"{gateway.base}/channels/{channel}/messages"],
                        "status_url": f"{gateway.base}/api/v1/agents/me/status",
                        "online_tokens": [t for _, t in agents],
                    },
                },
            }
            spy = Profiler(args.profile, gateway.proc.pid if gateway.proc else 0)
            try:
                results = run_generator(config, Path(tmp))
            finally:
                spy.stop()
            results["gateway"]["missing_state"] = [
                conversation_state(gateway, token, cid)
                for _, cid in results["gateway"]["missing_ids"]
            ]
        finally:
            gateway.stop()
            _wsbaseline.stop(baseline)
    base, gw = results["baseline"]["figures"], results["gateway"]["figures"]
    results["ratio"] = ratios(gw, base)
    results["settings"] = {
        "rate": args.rate,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "warmup": args.warmup,
        "agents": count,
        "redis_parser": parser_in_use,
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(
        f"{args.rate:g} messages/s for {args.seconds:g} s x {args.rounds} round(s), "
        f"{count} agents online, open loop, latency from the scheduled send; gateway's Redis "
        f"reply parser: {parser_in_use}"
    )
    print(line("baseline (bare aiohttp push)", base))
    print(line("gateway (POST -> offer)", gw))
    print(ratio_line("ratio gateway/baseline", results["ratio"]))
    for name in ("baseline", "gateway"):
        r = results[name]
        print(
            f"  {name}: {r['sent']} sent, statuses {r['statuses']}, {r['missing']} offers "
            f"missing, generator max lag {r['max_lag_ms']:.1f} ms"
        )
    for state in results["gateway"]["missing_state"]:
        print(f"  no offer seen for {state}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
