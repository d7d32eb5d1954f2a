"""Text a customer wrote never makes a pattern backtrack without bound: each input below made
an earlier pattern cubic or quadratic in its length (a 12 KB line of "<a@" held the e-mail reply
splitter for 45 s, and its 200 KB scan window would have taken hours; 32,000 escaped quotes
held the JSON prescan for 15 s). Each runs in a child process killed at the deadline: a hang
guard, thousands of times what the work takes, not a speed figure."""

from __future__ import annotations

import asyncio
import sys

import pytest

from adapters.email.config import _ADDRESS
from adapters.email.quotes import split_reply
from adapters.social.mastodon import link_min_id
from adapters.webchat.protocol import split_survey
from gateway.api.canned_api import render

HANG_GUARD_SECONDS = 20

CASES: dict[str, tuple] = {
    "mail: a line of '<a@'": (
        "from adapters.email.quotes import split_reply as f",
        "'Hi\\n' + '<a@' * 40_000",
    ),
    "classification: an admin's backtracking pattern": (
        "from gateway.classify import parse_rules\n"
        "rules = {'rules': [{'name': 'r', 'class': 'urgent', 'patterns': ['(a|aa)+$']}]}\n"
        "f = parse_rules(rules, ['urgent', 'normal']).classify",
        "'a' * 5_000 + '!'",
    ),
    # mail-parser-reply's German attribution pattern took 12 s on this (its French and Spanish
    # ones are as loose); our own patterns cover those languages instead. The run takes under
    # a second in all: a guard of its own, well below the library's time.
    "mail: German attribution lines full of 'schrieb'": (
        "from adapters.email.quotes import split_reply as f",
        "'hi\\n' + '\\n'.join(['Am 1:00 ' + 'schrieb ' * 36] * 650)",
        6,
    ),
    "json: escaped quotes": (
        "from gateway.api.http import loads, InvalidJSON\n"
        "def f(t):\n    try:\n        loads(t)\n    except InvalidJSON:\n        pass",
        "'[' * 70 + '\"' + '\\\\\"' * 100_000 + '\\\\'",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_hostile_text_is_handled_in_linear_time(case: str):
    define, text, *guard = CASES[case]
    deadline = guard[0] if guard else HANG_GUARD_SECONDS
    code = f"{define}\nf({text})\nprint('done')"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE
    )
    try:
        out, _ = await asyncio.wait_for(child.communicate(), deadline)
    except TimeoutError:
        child.kill()
        await child.wait()
        pytest.fail(f"{case}: still working after {deadline} s")
    assert child.returncode == 0 and out.strip() == b"done"


def test_the_bounded_patterns_still_find_what_they_are_for():
    wrapped = "你好\n\n张三 <zhangsan@example.com>\n于2024年1月2日周二 10:00写道：\n> 原文"
    assert split_reply(wrapped).text == "你好"
    assert split_reply("Hi\n" + "<a@" * 1000).text == "Hi\n" + "<a@" * 1000
    assert render("Hello {{customer.name|there}}!", {"customer.name": ""}) == "Hello there!"
    assert render("Hi {{ customer.name }}", {"customer.name": "李雷"}) == "Hi 李雷"
    assert render("{{ a.b |" * 3 + "x}}", {}) == "{{ a.b |" * 3 + "x}}"
    link = "https://gw.example.com/survey/abc_DEF-1.xyz-2"
    assert split_survey(f"请为本次服务评分： {link} 谢谢") == (
        "请为本次服务评分： 谢谢",
        "abc_DEF-1.xyz-2",
    )
    assert split_survey(" " * 10_000 + "no link") == (" " * 10_000 + "no link", None)
    assert _ADDRESS.match("support@example.co.uk") and _ADDRESS.match("客服@例子.中国")
    assert not _ADDRESS.match("a@b") and not _ADDRESS.match("a@b..c")
    header = (
        '<https://m.example/api/v1/x?max_id=1>; rel="next", '
        '<https://m.example/api/v1/x?min_id=99>; rel="prev"'
    )
    assert link_min_id(header) == "99"
    assert link_min_id("<" * 10_000) is None
