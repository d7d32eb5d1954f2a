"""The ``gateway`` command: serve, admin create-user, simulate."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from gateway.models import Role
from gateway.redis_server import EmbeddedRedis, EmbeddedRedisError
from gateway.secretbox import SecretKeyError
from gateway.settings import Settings, SettingsError, load_settings


class StartError(RuntimeError):
    """The gateway cannot start; the message says why in one line."""


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
    suite = sub.add_parser(
        "simulate-suite",
        help="every policy on generated days, many seeds per family; the worst seed reported",
    )
    suite.add_argument("--quick", action="store_true", help="CI size: 2 seeds, shorter days")
    suite.add_argument("--families", help="comma-separated (default: all)")
    suite.add_argument("--seeds", type=int, default=0, help="seeds per family (20; quick: 2)")
    suite.add_argument(
        "--draw",
        type=int,
        default=0,
        help="another set of days with the same settings (0: the suite's own days)",
    )
    suite.add_argument("--policies", help="comma-separated (default: ours and every peer)")
    suite.add_argument("--processes", type=int, default=2, help="worker processes (2)")
    suite.add_argument("--json", metavar="PATH", help="also write the full report as JSON")
    suite.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "simulate":
        from router.simulator import run_cli

        return run_cli(args)
    if args.command == "simulate-suite":
        from router.suite import run_cli as run_suite_cli

        return run_suite_cli(args)
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
    except (EmbeddedRedisError, SecretKeyError, StartError) as exc:
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


def serve(settings: Settings) -> int:
    from gateway.supervisor import Supervisor

    embedded = None if settings.redis_url else EmbeddedRedis(settings.data_dir)
    try:
        redis_url = embedded.start() if embedded else settings.redis_url
        if embedded:
            print(f"Embedded Redis at {redis_url} (data in {settings.data_dir})", file=sys.stderr)
        # Before any worker serves: a login right after the first start must work.
        asyncio.run(first_admin(settings, redis_url))
        if settings.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # /metrics of any worker then covers all of them (prometheus-client multiprocess).
            metrics_dir = Path(settings.data_dir) / "prometheus"
            shutil.rmtree(metrics_dir, ignore_errors=True)
            metrics_dir.mkdir(parents=True)
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        return Supervisor(settings, redis_url, embedded).run()
    finally:
        if embedded:
            embedded.stop()


async def first_admin(settings: Settings, redis_url: str, wait_seconds: float = 30.0) -> None:
    """Create the first admin (and print its password) unless there are users; Redis may still
    be coming up (a compose file starting both), so wait for it a little."""
    from gateway.bootstrap import announce, ensure_admin
    from gateway.redis_client import connect, unavailable
    from gateway.services import Gateway

    client = connect(redis_url)
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                announce(await ensure_admin(Gateway(settings, client)))
                return
            except Exception as exc:
                if not unavailable(exc):
                    raise
                if time.monotonic() > deadline:
                    raise StartError(f"Redis at {redis_url} unreachable: {exc}") from None
                await asyncio.sleep(1)
    finally:
        await client.aclose()


async def create_user(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.auth import UserExists
    from gateway.redis_client import connect
    from gateway.services import Gateway

    password = args.password or os.environ.get("GATEWAY_NEW_PASSWORD")
    if not password:
        password = getpass.getpass("Password: ")
    from gateway.auth import password_problem

    problem = "at least 10 characters" if len(password) < 10 else None
    problem = problem or password_problem(password, [args.email, args.name])
    if problem:
        print(f"gateway: password: {problem}", file=sys.stderr)
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
