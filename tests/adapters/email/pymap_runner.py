"""Run a real pymap IMAP server (in-memory 'dict' backend) for the email tests.

Started as a subprocess by the ``start_imap`` fixture:
``python pymap_runner.py --user U --password P [--port N] [--no-idle] [--cert C --key K]
[--oauth-tokens FILE]``.
Listens on 127.0.0.1 (on a port the OS picks unless given) and prints ``PORT <n>`` once it
accepts connections. ``--no-idle`` hides the IDLE capability (pymap's own disable_idle setting
is not wired up), to test the polling fallback. ``--oauth-tokens`` also offers AUTHENTICATE
XOAUTH2 (as Gmail and Microsoft 365 do) for the user, accepting the access tokens listed in FILE
(one per line, read at each attempt, so the test's token endpoint can issue and revoke them).
Like those servers it then also takes the SASL initial response on the AUTHENTICATE line
(RFC 4959 SASL-IR, which aioimaplib's XOAUTH2 sends and pymap does not parse by itself).
"""

from __future__ import annotations

import argparse
import asyncio
import binascii
import os
import signal
from base64 import b64decode
from contextlib import AsyncExitStack
from pathlib import Path

from proxyprotocol.reader import ProxyProtocolReader
from pymap.backend.dict import Config, DictBackend, Identity, Login
from pymap.config import BackendCapability
from pymap.context import current_command
from pymap.exceptions import InvalidAuth
from pymap.imap import IMAPConnection, IMAPServer
from pymap.parsing import EndLine, Space
from pymap.parsing.command.nonauth import AuthenticateCommand
from pymap.parsing.primitives import Atom
from pysasl import SASLAuth
from pysasl.creds.external import ExternalCredentials, ExternalVerificationRequired
from pysasl.exception import AuthenticationError
from pysasl.mechanism import ChallengeResponse


class NoIdleConfig(Config):
    @property
    def backend_capability(self) -> BackendCapability:
        return BackendCapability(idle=False, object_id=True, multi_append=True)


def _parse_with_initial_response(cls, buf, params):  # type: ignore[no-untyped-def]
    _, buf = Space.parse(buf, params)
    mechanism, after = Atom.parse(buf, params)
    initial = None
    if bytes(after[:1]) == b" ":
        _, after = Space.parse(after, params)
        response, after = Atom.parse(after, params)
        initial = response.value
    _, after = EndLine.parse(after, params)
    command = cls(params.tag, mechanism.value.upper())
    command.initial_response = initial
    return command, after


_authenticate = IMAPConnection.authenticate


async def _authenticate_with_initial_response(self, state, mech_name):  # type: ignore[no-untyped-def]
    initial = getattr(current_command.get(), "initial_response", None)
    mechanism = state.auth.get_server(mech_name)
    if initial is None or mechanism is None:
        return await _authenticate(self, state, mech_name)
    try:
        first = b64decode(initial, validate=True)
    except binascii.Error as exc:
        raise AuthenticationError() from exc
    credentials, _ = mechanism.server_attempt([ChallengeResponse(b"", first)])
    return credentials


def accept_sasl_ir() -> None:
    AuthenticateCommand.parse = classmethod(_parse_with_initial_response)  # type: ignore[method-assign, assignment]
    IMAPConnection.authenticate = _authenticate_with_initial_response  # type: ignore[method-assign]


def with_xoauth2(base: type[Config]) -> type[Config]:
    class XOAuth2Config(base):  # type: ignore[valid-type, misc]
        @property
        def tls_auth(self) -> SASLAuth:
            return SASLAuth.named([b"PLAIN", b"LOGIN", b"XOAUTH2"])

    return XOAuth2Config


class TokenLogin(Login):
    """Passwords as usual; XOAUTH2 bearer tokens checked against the token file."""

    token_file: Path | None = None
    user = ""

    async def authenticate(self, credentials):  # type: ignore[no-untyped-def]
        if not isinstance(credentials, ExternalCredentials):
            return await super().authenticate(credentials)
        try:
            credentials.verify(None)
        except ExternalVerificationRequired as exc:
            token = exc.token
        path = self.token_file
        valid = set(path.read_text().split()) if path and path.exists() else set()
        if credentials.authzid != self.user or not token or token not in valid:
            raise InvalidAuth()
        return Identity(credentials.authzid, self, None, set())


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
    config_class: type[Config] = NoIdleConfig if options.no_idle else Config
    login_class = Login
    if options.oauth_tokens:
        accept_sasl_ir()
        config_class = with_xoauth2(config_class)
        TokenLogin.token_file, TokenLogin.user = Path(options.oauth_tokens), options.user
        login_class = TokenLogin
    config = config_class.from_args(args, invalid_user_sleep=0.0)
    login = login_class(config)
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
    parser.add_argument("--oauth-tokens")
    options = parser.parse_args()
    os.environ.setdefault("FQDN", "localhost")  # the greeting would otherwise ask the DNS
    asyncio.run(serve(options))


if __name__ == "__main__":
    main()
