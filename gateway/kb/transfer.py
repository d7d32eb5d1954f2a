"""Import and export of articles as CSV or Markdown files.

CSV: a header row naming the columns ``title, body`` (required) and ``id, language, tags,
product`` (optional); tags separated by ``;`` or ``,``. Markdown: one article per top-level
heading, metadata lines right under it, then a blank line and the body::

    # 打印机卡纸怎么办
    id: kb_0001
    language: zh
    tags: 打印机; 卡纸
    product: LaserJet 100

    打开前盖，取出卡住的纸张……

A row (or an article) with an ``id`` replaces that article, so an export edited and imported
again updates instead of duplicating. Every problem is reported with its row or heading line
and field; an import with any problem writes nothing.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from gateway.kb.articles import ArticleBody

FORMATS = ("csv", "markdown")
CSV_COLUMNS = ["id", "title", "language", "tags", "product", "body"]
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_META = re.compile(r"^(id|language|tags|product)\s*[:：]\s*(.*)$", re.IGNORECASE)


@dataclass
class Parsed:
    rows: list[tuple[int, str | None, ArticleBody]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


def _tags(value: str) -> list[str]:
    return [t.strip() for t in re.split(r"[;,，；]", value or "") if t.strip()]


def _validate(out: Parsed, line: int, raw: dict[str, Any]) -> None:
    article_id = (raw.pop("id", "") or "").strip() or None
    if article_id is not None and not _ID.match(article_id):
        out.errors.append({"row": line, "field": "id", "message": "letters, digits, _ and -"})
        return
    raw = {k: v for k, v in raw.items() if v not in (None, "")}
    raw["tags"] = _tags(raw.get("tags", ""))
    try:
        out.rows.append((line, article_id, ArticleBody.model_validate(raw)))
    except ValidationError as exc:
        for problem in exc.errors():
            name = ".".join(str(p) for p in problem["loc"]) or "row"
            out.errors.append({"row": line, "field": name, "message": problem["msg"]})


def parse_csv(text: str) -> Parsed:
    out = Parsed()
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in ("title", "body") if c not in header]
    if missing:
        out.errors.append(
            {"row": 1, "field": "header", "message": "missing column(s): " + ", ".join(missing)}
        )
        return out
    reader.fieldnames = header
    for record in reader:
        line = reader.line_num
        extra = record.pop(None, None)  # type: ignore[call-overload]
        if extra:
            out.errors.append({"row": line, "field": "row", "message": "more cells than columns"})
            continue
        if not any((v or "").strip() for v in record.values()):
            continue  # a blank line
        _validate(out, line, {k: record.get(k) for k in CSV_COLUMNS if k in record})
    return out


def parse_markdown(text: str) -> Parsed:
    out = Parsed()
    lines = text.lstrip("\ufeff").splitlines()
    articles: list[tuple[int, list[str]]] = []
    fenced = False
    for number, line in enumerate(lines, 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("# "):
            articles.append((number, [line]))
        elif articles:
            articles[-1][1].append(line)
        elif line.strip():
            out.errors.append(
                {"row": number, "field": "title", "message": "text before the first '# ' title"}
            )
            return out
    for number, block in articles:
        raw: dict[str, Any] = {"title": block[0][2:].strip()}
        body_at = 1
        for line in block[1:]:
            match = _META.match(line.strip())
            if not match:
                break
            raw[match.group(1).lower()] = match.group(2).strip()
            body_at += 1
        raw["body"] = "\n".join(block[body_at:]).strip()
        _validate(out, number, raw)
    return out


def parse(text: str, fmt: str) -> Parsed:
    return parse_csv(text) if fmt == "csv" else parse_markdown(text)


def to_csv(articles: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for a in articles:
        writer.writerow(
            [a["id"], a["title"], a.get("language") or "", "; ".join(a.get("tags") or []),
             a.get("product") or "", a["body"]]
        )  # fmt: skip
    return "\ufeff" + buffer.getvalue()  # the BOM: Excel then reads UTF-8 Chinese right


def to_markdown(articles: list[dict[str, Any]]) -> str:
    parts = []
    for a in articles:
        head = [f"# {a['title']}", f"id: {a['id']}", f"language: {a.get('language') or ''}"]
        if a.get("tags"):
            head.append("tags: " + "; ".join(a["tags"]))
        if a.get("product"):
            head.append(f"product: {a['product']}")
        body = a["body"]
        # A body line starting with '# ' would start another article: indent it.
        lines = body.split("\n")
        body = "\n".join((" " + line if line.startswith("# ") else line) for line in lines)
        parts.append("\n".join(head) + "\n\n" + body + "\n")
    return "\n".join(parts)
