"""A local OAuth 2.0 token endpoint as Google's and Microsoft's identity platforms document it
(RFC 6749: form-encoded requests, client_secret in the form, JSON answers and errors): the
refresh token grant (Microsoft rotates the refresh token; Google keeps it) and the client
credentials grant (Microsoft 365 app-only). The access tokens it issues are the ones the test
IMAP server (a token file) and SMTP server (a set) accept, so revoking them here shows there."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from email_testkit import SmtpRecorder


@dataclass
class TokenEndpoint:
    token_file: Path  # read by the pymap runner (--oauth-tokens)
    smtp: SmtpRecorder
    client_id: str = "mail-client"
    client_secret: str = "mail-secret"
    rotate: bool = True
    lifetime: int = 3599
    refresh_tokens: set[str] = field(default_factory=set)
    access_tokens: set[str] = field(default_factory=set)
    forms: list[dict[str, str]] = field(default_factory=list)  # every request, as received

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/oauth2/v2.0/token", self.token)
        return app

    def consent(self) -> str:
        """A user consents (authorization code flow): a refresh token the app may use."""
        token = "rt-" + secrets.token_hex(8)
        self.refresh_tokens.add(token)
        return token

    def revoke_access_tokens(self) -> None:
        self.access_tokens.clear()
        self._publish()

    def _publish(self) -> None:
        self.token_file.write_text("\n".join(sorted(self.access_tokens)) + "\n")
        self.smtp.oauth_tokens = set(self.access_tokens)

    @staticmethod
    def _error(code: str, description: str, status: int = 400) -> web.Response:
        return web.json_response({"error": code, "error_description": description}, status=status)

    async def token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.forms.append(form)
        if form.get("client_id") != self.client_id:
            return self._error("unauthorized_client", "AADSTS700016: Application not found.")
        grant = form.get("grant_type")
        answer: dict[str, object] = {"token_type": "Bearer", "expires_in": self.lifetime}
        if grant == "refresh_token":
            old = form.get("refresh_token", "")
            if old not in self.refresh_tokens:
                return self._error("invalid_grant", "AADSTS70000: The refresh token is invalid.")
            if self.rotate:
                self.refresh_tokens.discard(old)
                answer["refresh_token"] = self.consent()
        elif grant == "client_credentials":
            if form.get("client_secret") != self.client_secret:
                return self._error("invalid_client", "AADSTS7000215: Invalid client secret.", 401)
            if not form.get("scope", "").endswith("/.default"):
                return self._error("invalid_scope", "AADSTS1002012: scope must end in /.default")
        else:
            return self._error("unsupported_grant_type", f"grant_type {grant!r}")
        access = "at-" + secrets.token_hex(12)
        self.access_tokens.add(access)
        self._publish()
        answer["access_token"] = access
        return web.json_response(answer)
