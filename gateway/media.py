"""Files on disk under ``<data_dir>/media/<channel>/<sha256>-<name>``: attachments adapters
downloaded from platforms and files agents uploaded, served at ``/media/<channel>/<file>``.

Content-addressed: a URL cannot be guessed, and storing the same bytes again writes nothing.
Several hosts must share this folder (docs/operations.md)."""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import re
import urllib.parse
from pathlib import Path

from gateway.models import Attachment

PREFIX = "/media/"
# A MIME type as a browser sends it (type/subtype; parameters are dropped).
_MIME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$")


def media_type(value: str | None) -> str:
    value = (value or "").split(";", 1)[0].strip().lower()
    return value if _MIME.match(value) else "application/octet-stream"


# The image types taken as images, by their leading bytes (a client's Content-Type is a claim).
_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)
_FTYP_IMAGES = {b"avif": "image/avif", b"avis": "image/avif", b"heic": "image/heic",
                b"heix": "image/heic", b"mif1": "image/heif"}  # fmt: skip


def image_type(data: bytes) -> str | None:
    """The image type the leading bytes say (PNG, JPEG, GIF, WebP, BMP, AVIF, HEIC); None when
    they are no such image."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp" and data[8:12] in _FTYP_IMAGES:
        return _FTYP_IMAGES[data[8:12]]
    return next((ctype for magic, ctype in _IMAGE_MAGIC if data.startswith(magic)), None)


# Types a browser would run or render as a page (script, markup that may carry script): a stored
# file whose name says one of them is served as bytes, whatever it holds.
_ACTIVE_TYPES = re.compile(r"html|xml|svg|javascript|ecmascript|css|x-sh|x-msdownload|wasm")


def served_type(path: Path) -> str:
    """The Content-Type a stored file is served with: an image by its leading bytes (a file named
    .png that holds HTML is not an image), a harmless type from its name (a PDF, a text file), and
    anything else, or any type a browser would execute, as application/octet-stream."""
    with path.open("rb") as handle:
        sniffed = image_type(handle.read(32))
    if sniffed:
        return sniffed
    guessed = mimetypes.guess_type(path.name, strict=False)[0]
    if not guessed or guessed.startswith("image/") or _ACTIVE_TYPES.search(guessed):
        return "application/octet-stream"
    return guessed


def describe_file(
    url: str, name: str, content_type: str | None, size: int, data: bytes | None = None
) -> Attachment:
    """A stored file as an attachment: images are images, anything else a file. With ``data``
    an image type is believed only when the bytes are such an image (else a plain file)."""
    ctype = media_type(content_type)
    if data is not None and ctype.startswith("image/"):
        ctype = image_type(data) or "application/octet-stream"
    kind = "image" if ctype.startswith("image/") else "file"
    return Attachment(kind=kind, url=url, name=name, content_type=ctype, size=size)


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    async def store(self, channel_id: str, data: bytes, name: str) -> str:
        """Keeps ``data``; returns its URL (relative to the gateway)."""
        digest = hashlib.sha256(data).hexdigest()
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[-80:] or "file"
        path = self.root / channel_id / f"{digest}-{safe}"
        if not path.exists():
            await asyncio.to_thread(_write_file, path, data)
        return f"{PREFIX}{channel_id}/{path.name}"

    def file(self, channel_id: str, name: str) -> Path | None:
        """The stored file behind ``/media/<channel_id>/<name>``; None when there is none, or
        when the name would leave the channel's folder."""
        if not _plain(channel_id) or not _plain(name):
            return None
        try:
            folder = (self.root / channel_id).resolve()
            path = (folder / name).resolve()
            inside = folder.parent == self.root and path.parent == folder
            return path if inside and path.is_file() else None
        except (OSError, ValueError):  # a name the file system refuses (too long, ...)
            return None

    def file_of_url(self, url: str, channel_id: str | None = None) -> Path | None:
        """The stored file behind a ``/media/...`` URL (of ``channel_id`` when given)."""
        if not url.startswith(PREFIX):
            return None
        channel, _, name = urllib.parse.unquote(url[len(PREFIX) :]).partition("/")
        if channel_id is not None and channel != channel_id:
            return None
        return self.file(channel, name)

    async def read(self, url: str) -> bytes | None:
        """The bytes behind one of our ``/media/...`` URLs; None when it is not one."""
        path = self.file_of_url(url)
        return None if path is None else await asyncio.to_thread(path.read_bytes)


def _plain(part: str) -> bool:
    """A path part that may name a stored file: not empty, no NUL or other control character
    (which the file system refuses with an error), no separator, not too long."""
    return 0 < len(part) <= 255 and not any(c < " " or c in "/\\\x7f" for c in part)


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)  # readers never see half a file
