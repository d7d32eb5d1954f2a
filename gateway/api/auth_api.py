"""Login, logout and who-am-I."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from gateway.api.http import ANY_USER, error, ok, parse, requires, session
from gateway.appkeys import GATEWAY
from gateway.auth import AuthError, LoginLimits, RateLimited
from gateway.clientaddr import request_address

routes = web.RouteTableDef()


class LoginBody(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


def user_json(user: object) -> dict[str, object]:
    return user.model_dump(mode="json")  # type: ignore[attr-defined]


@routes.post("/api/v1/auth/login")
async def login(request: web.Request) -> web.Response:
    body = await parse(request, LoginBody)
    gw = request.app[GATEWAY]
    address = request_address(request)  # behind trusted_proxies: the client's, not theirs
    try:
        token, sess = await gw.users.login(
            body.email, body.password, address, LoginLimits.of(gw.settings)
        )
    except RateLimited as exc:
        refused = error(429, "rate_limited", str(exc), retry_after=exc.retry_after)
        refused.headers["Retry-After"] = str(exc.retry_after)
        raise refused from None
    except AuthError:
        raise error(401, "invalid_credentials", "invalid email or password") from None
    return ok({"token": token, "expires_at": sess.expires_at, "user": user_json(sess.user)})


@routes.post("/api/v1/auth/logout")
@requires(*ANY_USER)
async def logout(request: web.Request) -> web.Response:
    await request.app[GATEWAY].users.logout(session(request))
    return ok({"ok": True})


@routes.get("/api/v1/auth/me")
@requires(*ANY_USER)
async def me(request: web.Request) -> web.Response:
    sess = session(request)
    return ok({"user": user_json(sess.user), "expires_at": sess.expires_at})
