"""The ``gateway`` command: serve, admin create-user, simulate."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import multiprocessing
import os
import shutil
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from aiohttp import web

from gateway.models import Role
from gateway.redis_server import EmbeddedRedis, EmbeddedRedisError
from gateway.secretbox import SecretKeyError
from gateway.settings import Settings, SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="Customer-service gateway")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway (embedded Redis unless --redis-url)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--data-dir")
    serve.add_argument("--redis-url")
    serve.add_argument("--workers", type=int, help="processes sharing the port (SO_REUSEPORT)")

    admin = sub.add_parser("admin", help="administration")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    create = admin_sub.add_parser("create-user", help="create a user")
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--role", choices=[r.value for r in Role], default="agent")
    create.add_argument("--password", help="omit to be asked (or set GATEWAY_NEW_PASSWORD)")
    create.add_argument("--capacity", type=int, default=5)
    create.add_argument("--teams", default="", help="comma-separated")
    create.add_argument("--skills", default="", help="comma-separated")
    create.add_argument("--data-dir")
    create.add_argument("--redis-url")

    simulate = sub.add_parser(
        "simulate", help="run a routing scenario under our policy and the peers' (no server)"
    )
    simulate.add_argument("scenario", help="a scenario file, or a name in config/scenarios")
    simulate.add_argument("--json", action="store_true", help="print the results as JSON")
    simulate.add_argument("--chart", metavar="PATH", help="write a PNG chart of the waits")
    simulate.add_argument("--policies", help="comma-separated (default: ours and every peer)")
    simulate.add_argument("--processes", type=int, default=2, help="worker processes (2)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "simulate":
        from router.simulator import run_cli

        return run_cli(args)
    overrides = {
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "data_dir": args.data_dir,
        "redis_url": args.redis_url,
        "workers": getattr(args, "workers", None),
    }
    try:
        settings = load_settings(overrides)
    except SettingsError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        if args.command == "serve":
            return serve(settings)
        return asyncio.run(create_user(settings, args))
    except (EmbeddedRedisError, SecretKeyError) as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 1


@contextmanager
def redis_for(settings: Settings, reuse_running: bool = False) -> Iterator[str]:
    """The Redis URL to use: REDIS_URL, else the embedded server (started here, stopped after)."""
    if settings.redis_url:
        yield settings.redis_url
        return
    embedded = EmbeddedRedis(settings.data_dir)
    if reuse_running and embedded.socket_path.exists():
        try:
            redis.Redis(unix_socket_path=str(embedded.socket_path), socket_timeout=2).ping()
            yield embedded.url  # a running `gateway serve` owns it
            return
        except (redis.ConnectionError, OSError):
            pass
    embedded.start()
    try:
        yield embedded.url
    finally:
        embedded.stop()


def _run_worker(settings: Settings, redis_url: str, reuse_port: bool) -> None:
    from gateway.app import create_app

    web.run_app(
        create_app(settings, redis_url),
        host=settings.host,
        port=settings.port,
        reuse_port=reuse_port,
        shutdown_timeout=settings.shutdown_grace_seconds,
        print=lambda line: print(line, file=sys.stderr, flush=True),
    )


def _mark_dead(pid: int) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)


def serve(settings: Settings) -> int:
    with redis_for(settings) as redis_url:
        if not settings.redis_url:
            print(f"Embedded Redis at {redis_url} (data in {settings.data_dir})", file=sys.stderr)
        if settings.workers == 1:
            _run_worker(settings, redis_url, reuse_port=False)
            return 0
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # /metrics of any worker then covers all of them (prometheus-client multiprocess).
            metrics_dir = Path(settings.data_dir) / "prometheus"
            shutil.rmtree(metrics_dir, ignore_errors=True)
            metrics_dir.mkdir(parents=True)
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        ctx = multiprocessing.get_context("spawn")
        procs = [
            ctx.Process(target=_run_worker, args=(settings, redis_url, True), daemon=False)
            for _ in range(settings.workers)
        ]
        for proc in procs:
            proc.start()

        def forward(signum: int, _frame: object) -> None:
            for proc in procs:
                if proc.pid:
                    os.kill(proc.pid, signal.SIGINT)

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        for proc in procs:
            proc.join()
            if proc.pid:
                _mark_dead(proc.pid)
        return 0 if all(p.exitcode == 0 for p in procs) else 1


async def create_user(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.auth import UserExists
    from gateway.redis_client import connect
    from gateway.services import Gateway

    password = args.password or os.environ.get("GATEWAY_NEW_PASSWORD")
    if not password:
        password = getpass.getpass("Password: ")
    if len(password) < 10:
        print("gateway: password: at least 10 characters", file=sys.stderr)
        return 2
    with redis_for(settings, reuse_running=True) as redis_url:
        client = connect(redis_url)
        gw = Gateway(settings, client)
        try:
            user = await gw.users.create(
                args.email,
                password,
                name=args.name,
                role=Role(args.role),
                capacity=args.capacity,
                teams=[t for t in args.teams.split(",") if t],
                skills=[s for s in args.skills.split(",") if s],
            )
            await gw.sync_agent(user.id)
        except UserExists:
            print(f"gateway: a user with email {args.email} exists", file=sys.stderr)
            return 1
        finally:
            await client.aclose()
    print(f"Created {user.role.value} {user.email} ({user.id})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
