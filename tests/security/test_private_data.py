"""/metrics can be protected by a bearer token; the data directory and the embedded Redis'
files (the append-only file holds password hashes and every conversation) are the owner's only,
also when an older version left them readable."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
import redis

from gateway.redis_server import EmbeddedRedis
from tests.conftest import MakeGateway


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_metrics_token(make_gateway: MakeGateway):
    open_one = await make_gateway()
    assert (await open_one.client.get("/metrics")).status == 200

    h = await make_gateway(metrics_token="scrape-token-0123456789")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "scrape-token"},
                    {"Authorization": "Bearer scrape-token-0123456789x"}):  # fmt: skip
        resp = await h.client.get("/metrics", headers=headers)
        assert resp.status == 401, headers
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert "gateway_" not in await resp.text()
    resp = await h.client.get(
        "/metrics", headers={"Authorization": "Bearer scrape-token-0123456789"}
    )
    assert resp.status == 200
    assert "# HELP" in await resp.text()


def test_embedded_redis_files_are_private(tmp_path: Path):
    data = tmp_path / "data"
    server = EmbeddedRedis(data)
    server.start()
    try:
        client = redis.Redis(unix_socket_path=str(server.socket_path))
        client.set("k", "v")
        client.close()
        assert _mode(data) == 0o700
        files = [p for p in (data / "redis").rglob("*") if p.is_file() and not p.is_socket()]
        assert any("appendonly" in p.name for p in files), files
        for path in [data / "redis", *(p for p in (data / "redis").rglob("*") if p.is_dir())]:
            assert _mode(path) == 0o700, path
        for path in files:
            assert _mode(path) & 0o077 == 0, (path, oct(_mode(path)))
    finally:
        server.stop()


def test_an_existing_readable_data_dir_is_fixed(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    data = tmp_path / "data"
    server = EmbeddedRedis(data)
    server.start()
    server.stop()
    # As an older version left it: 0755 directories, 0644 files.
    data.chmod(0o755)
    for path in [data / "redis", *(data / "redis").rglob("*")]:
        if path.is_symlink() or path.is_socket():
            continue
        path.chmod(0o755 if path.is_dir() else 0o644)
    with caplog.at_level(logging.WARNING, logger="gateway.redis_server"):
        server.start()
    try:
        assert _mode(data) == 0o700
        for path in (data / "redis").rglob("*"):
            if not path.is_symlink() and not path.is_socket():
                assert _mode(path) & 0o077 == 0, (path, oct(_mode(path)))
        assert "open to others" in caplog.text
    finally:
        server.stop()


async def test_the_data_dir_is_private_with_any_redis(make_gateway: MakeGateway, tmp_path: Path):
    """With an external Redis the app creates the data directory itself (media, secret key)."""
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    await make_gateway()
    assert _mode(data) == 0o700
