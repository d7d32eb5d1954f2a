"""Benchmark: end-to-end latency from an inbound API-channel POST to the offer on an agent's
WebSocket, at a fixed rate, against a bare aiohttp baseline measured the same way in the same run.

    .venv/bin/python bench/e2e_latency.py [--seconds 60] [--rates 20,200] [--rounds 1] [--json]
                                               [--profile out.folded]

One `gateway serve` process (embedded Redis, AOF everysec, its own temp dir) with an admin, an
API channel and enough online agents (capacity 100 each, offers that never expire during the
run) that capacity never runs out. A load generator in its own process holds every agent's
WebSocket (/api/v1/ws) and posts signed messages, each from a new customer, open-loop: send i is
scheduled at start + i / rate and does not wait for the previous one. Latency = arrival of the
`conversation.offered` event for that conversation on any agent socket minus the *scheduled* send
time (a late generator counts against the figure, never hides it).

Baselines: a bare aiohttp server (bench/_wsbaseline.py, another process) whose POST handler
pushes one frame to a WebSocket client held by the same generator: `bare` reads the body and
formats the frame from the message id in the URL, `bare-json` parses the JSON body and answers
JSON (as the gateway must); same transport (HTTP POST in, WebSocket frame out, loopback), same
process layout (server and generator in their own processes), same rate, duration, clients and
measurement. Each rate runs bare, bare-json, then the gateway, per round. The server CPU per
message (user + system of the server's processes over the run; the gateway's embedded Redis
apart) is printed beside the latencies. Machines are noisy: read the ratio, not the absolute
numbers.
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
from _serve import GatewayProcess, Profiler, http_json, tree_cpu
from _wsauth import agent_socket

CAPACITY = 100  # per agent (the API's maximum)
OFFERED = '"conversation.offered"'
SETTLE_SECONDS = 20.0  # how long to wait for the last offers after the last send


# --- the load generator (a subprocess) ----------------------------------------------------
async def run_target(
    target: dict[str, Any], rate: float, seconds: float, warmup: float, secret: str
) -> dict[str, Any]:
    """One timed run against one target; returns its latencies (s), counters and the server's
    CPU seconds over the run (own, its Redis's)."""
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
        url = target["post_urls"][i % len(target["post_urls"])]
        if target.get("id_in_query"):  # the bare push does not parse the body
            url += f"&id={run}-{i}"
        work.append((url, body, sign(secret, body)))
    arrivals: dict[str, float] = {}
    # (due, conversation id, status, lag, answered: when the POST's answer was read)
    sent: list[tuple[float, str, int, float, float]] = []
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
                    data = {}
                    if status < 300 and resp.content_type == "application/json":
                        data = await resp.json()
                    elif status < 300:  # the bare push answers the conversation id as text
                        data = {"conversation_id": await resp.text()}
            except aiohttp.ClientError:
                status, data = 0, {}
            answered = time.perf_counter()
            sent.append((due, str(data.get("conversation_id", "")), status, lag, answered))

        cpu_before = _cpu(target)
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
            if all(cid in arrivals for _, cid, status, *_ in sent if status == 202):
                break
            await asyncio.sleep(0.05)
        cpu_after = _cpu(target)
        for task in readers:
            task.cancel()
        for ws in sockets:
            await ws.close()
    sent.sort()
    measured = sent[skip:]
    offered = [(due, cid, answered) for due, cid, _, _, answered in measured if cid in arrivals]
    latencies = [arrivals[cid] - due for due, cid, _ in offered]
    # Where the time went: until the POST was answered (ingest, durable after the group commit,
    # and the HTTP answer), then from the answer to the offer (router round, agent socket).
    # Negative when the offer came first (the router is kicked before the answer is written).
    answers = [answered - due for due, _, answered in offered]
    statuses: dict[str, int] = {}
    for _, _, status, *_ in measured:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    missing = [(round(due - start, 2), cid) for due, cid, *_ in measured if cid not in arrivals]
    return {
        "latencies": latencies,
        "answers": answers,
        "sent": len(measured),
        "missing": len(measured) - len(latencies),
        "missing_ids": missing[:10],  # (scheduled second, conversation id)
        "statuses": statuses,
        "max_lag_ms": round(max((lag for _, _, _, lag, _ in measured), default=0) * 1000, 2),
        "cpu": [after - before for before, after in zip(cpu_before, cpu_after, strict=True)],
        "messages": total,
    }


def _cpu(target: dict[str, Any]) -> tuple[float, float]:
    """CPU seconds so far of the target's server processes, and of its Redis (the gateway's
    embedded redis-server; 0 for the baselines)."""
    own = tree_cpu(target["pid"], exclude=("redis-server",))
    return own, tree_cpu(target["pid"]) - own


async def generate(config: dict[str, Any]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for rate in config["rates"]:
        by_target = results.setdefault(str(rate), {})
        for _ in range(config["rounds"]):
            for name, target in config["targets"].items():
                got = await run_target(
                    target, rate, config["seconds"], config["warmup"], config["secret"]
                )
                into = by_target.setdefault(name, {
                    "latencies": [], "answers": [], "sent": 0, "missing": 0, "statuses": {},
                    "max_lag_ms": 0.0, "cpu": [0.0, 0.0], "messages": 0,
                })  # fmt: skip
                into["latencies"] += got["latencies"]
                into["answers"] += got["answers"]
                into["sent"] += got["sent"]
                into["missing"] += got["missing"]
                into.setdefault("missing_ids", []).extend(got["missing_ids"])
                into["max_lag_ms"] = max(into["max_lag_ms"], got["max_lag_ms"])
                for status, n in got["statuses"].items():
                    into["statuses"][status] = into["statuses"].get(status, 0) + n
                into["cpu"] = [a + b for a, b in zip(into["cpu"], got["cpu"], strict=True)]
                into["messages"] += got["messages"]
        for into in by_target.values():
            latencies, answers = into.pop("latencies"), into.pop("answers")
            into["figures"] = summary(latencies)
            into["breakdown"] = breakdown(latencies, answers)
            cpu, redis_cpu = into.pop("cpu")
            n = max(1, into["messages"])  # warm-up included: CPU covers the whole run
            into["cpu_ms_per_message"] = round(cpu * 1000 / n, 3)
            into["redis_cpu_ms_per_message"] = round(redis_cpu * 1000 / n, 3)
    return results


def breakdown(latencies: list[float], answers: list[float]) -> dict[str, Any]:
    """The answer's and the rest's share of the latency: over all offers (p50 / p99 of each)
    and over the slowest 1% (median of each), to tell what the tail waits on."""
    rest = [total - answer for total, answer in zip(latencies, answers, strict=True)]
    order = sorted(range(len(latencies)), key=latencies.__getitem__)
    tail = order[int(len(order) * 0.99) :]
    return {
        "answer": summary(answers),
        "after_answer": summary(rest),
        "tail_n": len(tail),
        "tail_answer_ms": round(_median([answers[i] for i in tail]) * 1000, 2),
        "tail_after_answer_ms": round(_median([rest[i] for i in tail]) * 1000, 2),
    }


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else 0.0


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


def agents_needed(rates: list[float], seconds: float, warmup: float, rounds: int) -> int:
    conversations = rounds * (seconds + warmup) * sum(rates)
    return max(4, math.ceil(conversations * 1.25 / CAPACITY))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds per run")
    parser.add_argument(
        "--rates", default="20,200", help="messages per second, one run each (comma-separated)"
    )
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
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    count = args.agents or agents_needed(rates, args.seconds, args.warmup, args.rounds)
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
            assert gateway.proc is not None
            config = {
                "rates": rates,
                "seconds": args.seconds,
                "warmup": args.warmup,
                "rounds": args.rounds,
                "secret": secret,
                "targets": {
                    "bare": {
                        "pid": baseline.pid,
                        "ws_urls": [f"{base_ws}/ws?group=agents&id={i}" for i in range(count)],
                        "post_urls": [
                            f"{base_url}/push-bare/agents/{i}?type=conversation.offered"
                            for i in range(count)
                        ],
                        "id_in_query": True,
                    },
                    "bare-json": {
                        "pid": baseline.pid,
                        "ws_urls": [f"{base_ws}/ws?group=agents&id={i}" for i in range(count)],
                        "post_urls": [
                            f"{base_url}/push/agents/{i}?type=conversation.offered"
                            for i in range(count)
                        ],
                    },
                    "gateway": {
                        "pid": gateway.proc.pid,
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
            for by_target in results.values():
                by_target["gateway"]["missing_state"] = [
                    conversation_state(gateway, token, cid)
                    for _, cid in by_target["gateway"]["missing_ids"]
                ]
        finally:
            gateway.stop()
            _wsbaseline.stop(baseline)
    for by_target in results.values():
        gw = by_target["gateway"]["figures"]
        by_target["ratio"] = ratios(gw, by_target["bare"]["figures"])
        by_target["ratio_json"] = ratios(gw, by_target["bare-json"]["figures"])
    results["settings"] = {
        "rates": rates,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "warmup": args.warmup,
        "agents": count,
        "redis_parser": parser_in_use,
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for rate in rates:
        report(results[str(rate)], rate, args, count, parser_in_use)
    return 0


def report(
    results: dict[str, Any], rate: float, args: argparse.Namespace, count: int, parser: str
) -> None:
    print(
        f"{rate:g} messages/s for {args.seconds:g} s x {args.rounds} round(s), "
        f"{count} agents online, open loop, latency from the scheduled send; gateway's Redis "
        f"reply parser: {parser}"
    )
    print(line("bare (aiohttp push)", results["bare"]["figures"]))
    print(line("bare-json (parses, answers JSON)", results["bare-json"]["figures"]))
    print(line("gateway (POST -> offer)", results["gateway"]["figures"]))
    split = results["gateway"]["breakdown"]
    print(line("  of which POST -> answered", split["answer"]))
    print(line("  of which answered -> offer", split["after_answer"]))
    print(
        f"  slowest 1% ({split['tail_n']}): median {split['tail_answer_ms']:.2f} ms until "
        f"answered, {split['tail_after_answer_ms']:.2f} ms from the answer to the offer"
    )
    print(ratio_line("ratio gateway/bare", results["ratio"]))
    print(ratio_line("ratio gateway/bare-json", results["ratio_json"]))
    for name in ("bare", "bare-json", "gateway"):
        r = results[name]
        print(
            f"  {name}: {r['sent']} sent, statuses {r['statuses']}, {r['missing']} offers "
            f"missing, generator max lag {r['max_lag_ms']:.1f} ms, server CPU "
            f"{r['cpu_ms_per_message']:.3f} ms per message at {rate:g}/s"
            + (
                f" (+ its Redis {r['redis_cpu_ms_per_message']:.3f} ms)"
                if name == "gateway"
                else ""
            )
        )
    for state in results["gateway"]["missing_state"]:
        print(f"  no offer seen for {state}")


if __name__ == "__main__":
    raise SystemExit(main())
