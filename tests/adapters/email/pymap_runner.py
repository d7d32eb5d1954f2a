"""Run a real pymap IMAP server (in-memory 'dict' backend) for the email tests.

Started as a subprocess by the ``start_imap`` fixture:
``python pymap_runner.py --user U --password P [--port N] [--no-idle] [--cert C --key K]``.
Listens on 127.0.0.1 (on a port the OS picks unless given) and prints ``PORT <n>`` once it
accepts connections. ``--no-idle`` hides the IDLE capability (pymap's own disable_idle setting
is not wired up), to test the polling fallback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from contextlib import AsyncExitStack

from proxyprotocol.reader import ProxyProtocolReader
from pymap.backend.dict import Config, DictBackend, Login
from pymap.config import BackendCapability
from pymap.imap import IMAPServer


class NoIdleConfig(Config):
    @property
    def backend_capability(self) -> BackendCapability:
        return BackendCapability(idle=False, object_id=True, multi_append=True)


async def serve(options: argparse.Namespace) -> None:
    args = argparse.Namespace(
        host=["127.0.0.1"],
        port=0,
        debug=False,
        cert=options.cert,
        key=options.key,
        tls=bool(options.cert),
        demo_data=False,
        demo_user=options.user,
        demo_password=options.password,
        passlib_cfg=None,
        inherited_sockets=None,
        proxy_protocol=None,
        skip_services=[],
    )
    config_class = NoIdleConfig if options.no_idle else Config
    config = config_class.from_args(args, invalid_user_sleep=0.0)
    login = Login(config)
    await DictBackend._add_demo_user(config, login)
    backend = DictBackend(login, config)
    config.apply_context()
    async with AsyncExitStack() as stack:
        await backend.start(stack)
        imap = IMAPServer(backend.login, config)
        callback = ProxyProtocolReader(config.proxy_protocol).get_callback(imap)
        server = await asyncio.start_server(callback, host="127.0.0.1", port=options.port)
        await stack.enter_async_context(server)
        port = server.sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        serving = asyncio.create_task(server.serve_forever())
        await stop.wait()
        serving.cancel()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--no-idle", action="store_true")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    options = parser.parse_args()
    os.environ.setdefault("FQDN", "localhost")  # the greeting would otherwise ask the DNS
    asyncio.run(serve(options))


if __name__ == "__main__":
    main()
