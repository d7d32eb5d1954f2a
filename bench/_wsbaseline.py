"""The bare baseline of the WebSocket benchmarks: an aiohttp server (its own process) holding
WebSocket clients in groups, with the least a gateway would do per event.

    GET  /ws?group=<g>&id=<i>        a client; it gets {"type": "hello"} first
    POST /push/<g>/<i>?type=<t>      ("bare-json") JSON body parsed -> one frame to that
                                     client, answers 202 with {"conversation_id": "c-<message_id>"}
    POST /push-bare/<g>/<i>?type=<t>&id=<message_id>
                                     ("bare") body read, not parsed -> one frame made by string
                                     formatting, answers 202 with the text c-<message_id>
    POST /broadcast/<g>?type=<t>     JSON body -> the same frame to every client of the group
    GET  /readyz

Frames: {"type": <t>, "data": {"conversation_id": "c-<message_id>", "message": <body>}}; the
bare push's: {"type": <t>, "data": {"conversation_id": "c-<message_id>"}}.

    python bench/_wsbaseline.py PORT
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _serve import free_port, wait_http

GROUPS = web.AppKey("groups", dict)


def _frame(request: web.Request, payload: dict) -> tuple[str, str]:
    conversation_id = f"c-{payload.get('message_id', '')}"
    kind = request.query.get("type", "message")
    data = {"conversation_id": conversation_id, "message": payload}
    return conversation_id, json.dumps({"type": kind, "data": data}, ensure_ascii=False)


async def socket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    group = request.app[GROUPS].setdefault(request.query.get("group", ""), {})
    key = request.query.get("id", str(id(ws)))
    group[key] = ws
    try:
        await ws.send_str('{"type": "hello"}')
        async for _msg in ws:  # nothing to do with what clients send
            pass
    finally:
        if group.get(key) is ws:
            del group[key]
    return ws


async def push(request: web.Request) -> web.Response:
    conversation_id, text = _frame(request, await request.json())
    ws = request.app[GROUPS].get(request.match_info["group"], {}).get(request.match_info["id"])
    if ws is None:
        raise web.HTTPNotFound(text="no such client")
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.send_str(text)
    return web.json_response({"conversation_id": conversation_id}, status=202)


async def push_bare(request: web.Request) -> web.Response:
    await request.read()  # the body is read, as any handler must, but not parsed
    conversation_id = f"c-{request.query.get('id', '')}"
    kind = request.query.get("type", "message")
    text = f'{{"type": "{kind}", "data": {{"conversation_id": "{conversation_id}"}}}}'
    ws = request.app[GROUPS].get(request.match_info["group"], {}).get(request.match_info["id"])
    if ws is None:
        raise web.HTTPNotFound(text="no such client")
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.send_str(text)
    return web.Response(text=conversation_id, status=202)


async def broadcast(request: web.Request) -> web.Response:
    _conversation_id, text = _frame(request, await request.json())
    clients = list(request.app[GROUPS].get(request.match_info["group"], {}).values())
    for ws in clients:  # one after the other, as the gateway's hub does
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_str(text)
    return web.json_response({"sent": len(clients)})


async def ready(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


def app() -> web.Application:
    application = web.Application()
    application[GROUPS] = {}
    application.router.add_get("/ws", socket)
    application.router.add_post("/push/{group}/{id}", push)
    application.router.add_post("/push-bare/{group}/{id}", push_bare)
    application.router.add_post("/broadcast/{group}", broadcast)
    application.router.add_get("/readyz", ready)
    return application


def start() -> tuple[subprocess.Popen[bytes], str]:
    """This server in its own process on a free port; returns (process, base URL)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, str(port)], stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/readyz")
    except RuntimeError:
        proc.kill()
        raise
    return proc, base


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    web.run_app(app(), host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
