"""A PNG bar chart of first-response waits per channel and policy, with no plotting library:
a small raster, a 5x7 pixel font, and PNG written with zlib (stdlib only)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

# 5x7 glyphs, one string of 7 rows of 5 bits per character (upper case, digits, a few marks).
_FONT = {
    "A": "01110100011000111111100011000110001",
    "B": "11110100011111010001100011000111110",
    "C": "01110100011000010000100001000101110",
    "D": "11110100011000110001100011000111110",
    "E": "11111100001111010000100001000011111",
    "F": "11111100001111010000100001000010000",
    "G": "01110100011000010111100011000101111",
    "H": "10001100011111110001100011000110001",
    "I": "01110001000010000100001000010001110",
    "J": "00111000100001000010000101001001100",
    "K": "10001100101010011000101001001010001",
    "L": "10000100001000010000100001000011111",
    "M": "10001110111010110001100011000110001",
    "N": "10001110011010110011100011000110001",
    "O": "01110100011000110001100011000101110",
    "P": "11110100011111010000100001000010000",
    "Q": "01110100011000110001101011001001101",
    "R": "11110100011111010100100101000110001",
    "S": "01111100000111000001000011000111110",
    "T": "11111001000010000100001000010000100",
    "U": "10001100011000110001100011000101110",
    "V": "10001100011000110001100010101000100",
    "W": "10001100011000110101101011010101010",
    "X": "10001100010101000100010101000110001",
    "Y": "10001100010101000100001000010000100",
    "Z": "11111000010001000100010001000011111",
    "0": "01110100111010110101110011000101110",
    "1": "00100011000010000100001000010001110",
    "2": "01110100010000100010001000100011111",
    "3": "11110000010000101110000010000111110",
    "4": "00010001100101010010111110001000010",
    "5": "11111100001111000001000011000101110",
    "6": "00110010001000011110100011000101110",
    "7": "11111000010001000100010000100001000",
    "8": "01110100011000101110100011000101110",
    "9": "01110100011000101111000010001001100",
    "-": "00000000000000011111000000000000000",
    "_": "00000000000000000000000000000011111",
    ".": "00000000000000000000000000110001100",
    "/": "00001000010001000100010001000010000",
    "(": "00010001000100001000010000010000010",
    ")": "01000001000001000010000100010001000",
    "%": "11001110010001000100010001001110011",
    ":": "00000011000110000000011000110000000",
    " ": "00000000000000000000000000000000000",
    ",": "00000000000000000000001100010001000",
}
_PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189)]
Color = tuple[int, int, int]


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(b"\xff" * (width * height * 3))

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        x0, x1 = max(0, min(x0, x1)), min(self.width, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(self.height, max(y0, y1))
        row = bytes(color) * (x1 - x0)
        for y in range(y0, y1):
            start = (y * self.width + x0) * 3
            self.pixels[start : start + len(row)] = row

    def text(self, x: int, y: int, text: str, color: Color = (0, 0, 0), scale: int = 2) -> None:
        for char in text.upper():
            glyph = _FONT.get(char, _FONT[" "])
            for i, bit in enumerate(glyph):
                if bit == "1":
                    gx, gy = x + (i % 5) * scale, y + (i // 5) * scale
                    self.rect(gx, gy, gx + scale, gy + scale, color)
            x += 6 * scale

    def png(self) -> bytes:
        raw = b"".join(
            b"\x00" + bytes(self.pixels[y * self.width * 3 : (y + 1) * self.width * 3])
            for y in range(self.height)
        )

        def chunk(kind: bytes, data: bytes) -> bytes:
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )


def text_width(text: str, scale: int = 2) -> int:
    return len(text) * 6 * scale


def wait_chart(results: list[dict[str, Any]], title: str) -> bytes:
    """Bars: p90 first-response wait per channel (groups) and policy (colours); a dark tick
    marks the p50."""
    channels = list(results[0]["first_response_wait_s"]) if results else []
    width, height = 1100, 560
    left, right, top, bottom = 80, 20, 60, 130
    canvas = Canvas(width, height)
    canvas.text(8, 10, title)
    peak = max((r["first_response_wait_s"][c]["p90"] for r in results for c in channels), default=1)
    step = _nice_step(peak)
    top_value = step * (int(peak // step) + 1)
    plot_h = height - top - bottom
    y_of = lambda v: top + plot_h - int(v / top_value * plot_h)  # noqa: E731
    value = 0.0
    while value <= top_value + 1e-9:
        y = y_of(value)
        canvas.rect(left, y, width - right, y + 1, (225, 225, 225))
        label = f"{value:g}"
        canvas.text(left - 8 - text_width(label), y - 7, label)
        value += step
    canvas.text(8, top - 22, "P90 WAIT (S), TICK: P50")
    group_w = (width - left - right) / max(1, len(channels))
    bar_w = max(4, int(group_w * 0.8 / max(1, len(results))))
    for g, channel in enumerate(channels):
        x0 = int(left + g * group_w + group_w * 0.1)
        for p, result in enumerate(results):
            stats = result["first_response_wait_s"][channel]
            color = _PALETTE[p % len(_PALETTE)]
            bx = x0 + p * bar_w
            canvas.rect(bx, y_of(stats["p90"]), bx + bar_w - 2, y_of(0), color)
            y50 = y_of(stats["p50"])
            canvas.rect(bx, y50 - 1, bx + bar_w - 2, y50 + 2, (20, 20, 20))
        label = channel.replace("_", " ")
        canvas.text(int(x0 + (group_w * 0.8 - text_width(label)) / 2), y_of(0) + 10, label)
    canvas.rect(left, y_of(0), width - right, y_of(0) + 2, (0, 0, 0))
    for p, result in enumerate(results):
        y = height - bottom + 50 + (p // 2) * 22
        x = left + (p % 2) * 480
        canvas.rect(x, y, x + 16, y + 14, _PALETTE[p % len(_PALETTE)])
        canvas.text(x + 24, y, result["policy"])
    return canvas.png()


def _nice_step(peak: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200):
        if peak / step <= 8:
            return float(step)
    return float(int(peak / 8) + 1)


def write_chart(path: str | Path, results: list[dict[str, Any]], title: str) -> None:
    Path(path).write_bytes(wait_chart(results, title))
