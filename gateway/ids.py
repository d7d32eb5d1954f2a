"""Identifiers: time-ordered, random, URL-safe. Made in Python so every key a Lua script
touches is known (and declared) before the script runs."""

from __future__ import annotations

import secrets
import time


def new_id(prefix: str) -> str:
    """e.g. ``c_018f3a9b2c41a7f3e2d1``: hex milliseconds then 40 random bits; sorts by time."""
    return f"{prefix}_{int(time.time() * 1000):012x}{secrets.token_hex(5)}"
