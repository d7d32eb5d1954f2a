"""Users, argon2id password hashes, bearer tokens and login rate limiting."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from redis.asyncio import Redis
from zxcvbn import zxcvbn

from gateway.batching import CommandBatcher
from gateway.events import EventBus
from gateway.ids import new_id
from gateway.keys import Keys
from gateway.models import Role, User, now_ms
from gateway.scripts import load_script

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified when the email is unknown, so a wrong email costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-password")


# Passwords must reach this zxcvbn score (0-4; 3: "safely unguessable", about 10^8 guesses and
# more). zxcvbn reads at most this many characters: a longer passphrase is judged by its start.
MIN_PASSWORD_SCORE = 3
_ZXCVBN_MAX = 72


class WeakPassword(ValueError):
    """A password that is common or guessable; the message says why, in zxcvbn's words."""


def password_problem(password: str, user_inputs: list[str] | None = None) -> str | None:
    """Why ``password`` is too easy to guess (None when it is not). ``user_inputs``: what an
    attacker knows of the user (email, its local part, name), which makes it weaker."""
    inputs: list[str] = []
    for value in user_inputs or []:
        inputs.append(value)
        inputs.extend(p for p in re.split(r"[\s@.+_-]+", value) if p and p != value)
    result = zxcvbn(password[:_ZXCVBN_MAX], user_inputs=inputs)
    if result["score"] >= MIN_PASSWORD_SCORE:
        return None
    feedback = result.get("feedback") or {}
    advice = " ".join([feedback.get("warning") or "", *(feedback.get("suggestions") or [])])
    advice = advice.strip() or "Add another word or two. Uncommon words are better."
    return f"too easy to guess (strength {result['score']} of 4, at least 3 needed). {advice}"


def check_password(password: str, user_inputs: list[str] | None = None) -> None:
    problem = password_problem(password, user_inputs)
    if problem:
        raise WeakPassword(problem)


# Published on the events channel when sessions end before their time; every process closes the
# agent WebSockets of those sessions (gateway/ws.py). data: user_id, token_hashes (null: all of
# the user's sessions), reason.
SESSION_REVOKED = "session.revoked"


class AuthError(Exception):
    pass


class UserExists(Exception):
    pass


class LastAdmin(Exception):
    """The change would leave no admin (deleting or demoting the last one): refused."""


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; retry in {retry_after}s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class LoginLimits:
    """Failed logins allowed (docs/operations.md#security): per (account, address), then a
    lockout that doubles with each further failure; per address, a looser cap per window."""

    max_failures: int = 5
    lockout_seconds: int = 300
    lockout_max_seconds: int = 86_400
    address_max_failures: int = 50
    address_window_seconds: int = 300

    @classmethod
    def of(cls, settings: Any) -> LoginLimits:
        return cls(
            settings.login_max_failures,
            settings.login_lockout_seconds,
            settings.login_lockout_max_seconds,
            settings.login_max_failures_per_address,
            settings.login_address_window_seconds,
        )


@dataclass(frozen=True)
class Session:
    user: User
    token_hash: str
    expires_at: int


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _user_from_hash(row: dict[str, str]) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        name=row.get("name", ""),
        role=Role(row["role"]),
        capacity=int(float(row.get("capacity") or 5)),
        teams=json.loads(row.get("teams") or "[]"),
        skills=json.loads(row.get("skills") or "[]"),
        languages=json.loads(row.get("languages") or "[]"),
        created_at=int(row.get("created_at") or 0),
    )


class Users:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        token_ttl: int,
        max_failures: int,
        lockout_seconds: int,
        batch: CommandBatcher | None = None,
    ) -> None:
        self.redis = redis
        self.keys = keys
        # Every API call checks its token: through group commit (the gateway passes its own), a
        # burst of calls shares pipelines instead of taking a pooled connection each (issue 21).
        self.batch = batch or CommandBatcher(redis)
        self.token_ttl = token_ttl
        self.max_failures = max_failures
        self.lockout_seconds = lockout_seconds
        # Publishes only (never started): revocations reach the sockets of every process.
        self._events = EventBus(redis, keys)
        self._attempt = load_script(redis, __file__, "login_attempt")
        self._success = load_script(redis, __file__, "login_success")
        self._change = load_script(redis, __file__, "user_change")

    async def count(self) -> int:
        return await self.redis.scard(self.keys.users())

    async def create(
        self,
        email: str,
        password: str,
        *,
        name: str,
        role: Role,
        capacity: int = 5,
        teams: list[str] | None = None,
        skills: list[str] | None = None,
        languages: list[str] | None = None,
    ) -> User:
        check_password(password, [email, name])
        user_id = new_id("u")
        if not await self.redis.set(self.keys.user_by_email(email), user_id, nx=True):
            raise UserExists(email)
        row: dict[str, Any] = {
            "id": user_id,
            "email": email.lower(),
            "name": name,
            "role": role.value,
            "capacity": capacity,
            "teams": json.dumps(teams or []),
            "skills": json.dumps(skills or []),
            "languages": json.dumps(languages or []),
            "created_at": now_ms(),
            "password": await asyncio.to_thread(_hasher.hash, password),
        }
        await self.redis.hset(self.keys.user(user_id), mapping=row)
        await self.redis.sadd(self.keys.users(), user_id)
        return _user_from_hash(row)

    async def get(self, user_id: str) -> User | None:
        row = await self.redis.hgetall(self.keys.user(user_id))
        return _user_from_hash(row) if row else None

    async def all(self) -> list[User]:
        ids = sorted(await self.redis.smembers(self.keys.users()))
        pipe = self.redis.pipeline(transaction=False)
        for user_id in ids:
            pipe.hgetall(self.keys.user(user_id))
        return [_user_from_hash(r) for r in await pipe.execute() if r]

    async def update(self, user_id: str, changes: dict[str, Any]) -> User | None:
        user = await self.get(user_id)
        if user is None:
            return None
        if "password" in changes:
            check_password(changes["password"], [user.email, changes.get("name") or user.name])
        row: dict[str, Any] = {}
        for field, value in changes.items():
            if field == "password":
                row["password"] = await asyncio.to_thread(_hasher.hash, value)
            elif field in ("teams", "skills", "languages"):
                row[field] = json.dumps(value)
            elif field == "role":
                row[field] = Role(value).value
            else:
                row[field] = value
        if row:
            await self._guarded(user, "update", row.get("role", ""), row)
        if "password" in changes or "role" in changes:
            why = "password changed" if "password" in changes else "role changed"
            await self.revoke_all(user_id, why)
        return await self.get(user_id)

    async def delete(self, user_id: str) -> bool:
        user = await self.get(user_id)
        if user is None:
            return False
        if not await self._guarded(user, "delete"):
            return False
        await self.revoke_all(user_id, "user deleted")
        return True

    async def _guarded(
        self, user: User, mode: str, new_role: str = "", row: dict[str, Any] | None = None
    ) -> bool:
        """Deletes or updates ``user`` in one script that refuses to leave no admin (LastAdmin);
        False when the user is gone."""
        admins = [u.id for u in await self.all() if u.role == Role.ADMIN and u.id != user.id]
        fields = [str(part) for item in (row or {}).items() for part in item]
        verdict = await self._change(
            keys=[
                self.keys.user(user.id),
                self.keys.users(),
                self.keys.user_by_email(user.email),
                *(self.keys.user(a) for a in admins),
            ],
            args=[mode, new_role, user.id, *fields],
        )
        if verdict == "last_admin":
            raise LastAdmin(f"{user.email} is the last admin")
        return verdict == "ok"

    async def login(
        self, email: str, password: str, client_ip: str, limits: LoginLimits | None = None
    ) -> tuple[str, Session]:
        """Returns (token, session). Raises AuthError (no hint which part was wrong) or
        RateLimited while this account is locked for this address, or this address is over its
        cap. ``limits``: the settings' (else this instance's max_failures and lockout)."""
        limits = limits or LoginLimits(self.max_failures, self.lockout_seconds)
        subjects = [
            self.keys.login_failures_account(email, client_ip),
            self.keys.login_failures_address(client_ip),
        ]
        # Counted as a failure before the password is checked (atomically: parallel attempts
        # cannot all slip under the limit), and taken back when it was right.
        go, wait_ms = await self._attempt(
            keys=subjects,
            args=[
                now_ms(),
                limits.max_failures,
                limits.lockout_seconds * 1000,
                max(limits.lockout_max_seconds, limits.lockout_seconds) * 1000,
                limits.address_max_failures,
                limits.address_window_seconds * 1000,
            ],
        )
        if not int(go):
            raise RateLimited(max(1, -(-int(wait_ms) // 1000)))
        user_id = await self.redis.get(self.keys.user_by_email(email))
        stored = await self.redis.hget(self.keys.user(user_id), "password") if user_id else None
        try:
            # Hashing is deliberately slow: keep it off the event loop.
            await asyncio.to_thread(_hasher.verify, stored or _DUMMY_HASH, password)
            ok = stored is not None
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok or not user_id:
            raise AuthError("invalid email or password")
        await self._success(keys=subjects)
        token = secrets.token_urlsafe(32)
        expires_at = now_ms() + self.token_ttl * 1000
        token_hash = _token_hash(token)
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(self.keys.token(token_hash), user_id, ex=self.token_ttl)
        pipe.sadd(self.keys.user_tokens(user_id), token_hash)
        await pipe.execute()
        user = await self.get(user_id)
        assert user is not None
        return token, Session(user, token_hash, expires_at)

    async def authenticate(self, token: str) -> Session | None:
        token_hash = _token_hash(token)
        key = self.keys.token(token_hash)
        user_id = await self.batch.command("GET", key)
        if not user_id:
            return None
        row, ttl = await self.batch.commands(("HGETALL", self.keys.user(user_id)), ("PTTL", key))
        if not row:
            return None
        return Session(_user_from_hash(row), token_hash, now_ms() + max(ttl, 0))

    async def logout(self, session: Session) -> None:
        await self.redis.delete(self.keys.token(session.token_hash))
        await self.redis.srem(self.keys.user_tokens(session.user.id), session.token_hash)
        await self._revoked(session.user.id, [session.token_hash], "logged out")

    async def revoke_all(self, user_id: str, reason: str = "revoked") -> None:
        hashes = await self.redis.smembers(self.keys.user_tokens(user_id))
        pipe = self.redis.pipeline(transaction=False)
        for token_hash in hashes:
            pipe.delete(self.keys.token(token_hash))
        pipe.delete(self.keys.user_tokens(user_id))
        await pipe.execute()
        await self._revoked(user_id, None, reason)

    async def _revoked(self, user_id: str, token_hashes: list[str] | None, reason: str) -> None:
        """Tell every process to close the sockets of these sessions now (each socket also
        re-checks its token, so a lost publish only delays the close)."""
        data = {"user_id": user_id, "token_hashes": token_hashes, "reason": reason}
        await self._events.publish(SESSION_REVOKED, data, [user_id])
