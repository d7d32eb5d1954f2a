"""First start: with no users, create an admin (from GATEWAY_ADMIN_* or with a random password
printed once)."""

from __future__ import annotations

import secrets
import sys

from gateway.auth import password_problem
from gateway.models import Role
from gateway.services import Gateway


async def ensure_admin(gw: Gateway) -> tuple[str, str | None] | None:
    """Returns (email, generated password or None) when an admin was created now."""
    if await gw.users.count() > 0:
        return None
    email = gw.settings.admin_email or "admin@localhost"
    if gw.settings.admin_password:
        # Refused, not warned about: the first admin holds every key, and the operator can
        # choose again at once (the check applies only when the first admin is created).
        problem = password_problem(gw.settings.admin_password, [email, gw.settings.admin_name])
        if problem:
            from gateway.cli import StartError

            raise StartError(f"setting GATEWAY_ADMIN_PASSWORD: {problem}")
    # Several processes may start at once: only one creates the admin.
    if not await gw.redis.set(gw.keys.lease("bootstrap-admin"), "1", nx=True, ex=60):
        return None
    if await gw.users.count() > 0:
        return None
    password = gw.settings.admin_password
    generated = None
    if not password:
        password = generated = secrets.token_urlsafe(12)
    user = await gw.users.create(email, password, name=gw.settings.admin_name, role=Role.ADMIN)
    await gw.sync_agent(user.id)
    return email, generated


def announce(created: tuple[str, str | None] | None) -> None:
    """Print the first admin's credentials once, where the operator starting it looks."""
    if created:
        email, password = created
        shown = password if password else "(from GATEWAY_ADMIN_PASSWORD)"
        print(f"Created the first admin: {email} password: {shown}", file=sys.stderr, flush=True)
