"""Loads the Lua scripts kept as .lua files beside the code that calls them."""

from __future__ import annotations

from pathlib import Path

from redis.asyncio import Redis
from redis.commands.core import AsyncScript


def load_script(
    redis: Redis, module_file: str, name: str, prelude: str | None = None
) -> AsyncScript:
    """``prelude``: another .lua file of the same folder with shared local functions."""
    folder = Path(module_file).resolve().parent / "lua"
    text = (folder / f"{name}.lua").read_text(encoding="utf-8")
    if prelude:
        text = (folder / f"{prelude}.lua").read_text(encoding="utf-8") + "\n" + text
    return redis.register_script(text)


def decode_flat(values: list[object]) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]
