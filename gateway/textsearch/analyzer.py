"""Folding and tokenising Chinese and English text (see the package's docstring)."""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

import opencc
import rjieba

# Characters of the CJK blocks Chinese text uses (ideographs, extension A, compatibility).
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(rf"[{_CJK}]+|[a-z0-9]+(?:['.][a-z0-9]+)*")
_HAS_CJK = re.compile(rf"[{_CJK}]")

# Words that say nothing about what is asked, in either language (folded forms).
STOP_WORDS = frozenset(
    """
    的 了 吗 呢 吧 啊 呀 哦 嗯 么 是 在 有 我 我们 你 你们 您 他 她 它 这 那 这个 那个 就 都 也 还
    和 与 及 或 请 请问 一下 一个 个 把 被 给 让 要 想 会 能 可以 可 怎么 怎么办 怎样 如何 什么
    为什么 为啥 啥 咋 哪 哪里 多少 几 吗 嘛 哈 呗 啦 着 过 得 地 很 太 非常 好 不 没 没有 一直 已经
    又 再 才 刚 刚刚 现在 今天 请帮 帮 帮我 帮忙 谢谢 你好 您好 麻烦 下 上 中 里 时候
    我要 我想 想要 我想要 需要 能不能 可不可以 是不是 有没有 怎么回事 咋办 咋回事 为何 哪个
    哪些 知道 告诉 问 问一下 问下 一下子 的话 然后 但是 因为 所以 如果 应该 还是 亲 客服
    老是 总是 咋整 怎么弄 怎么整 弄 搞 整 咋弄 咋搞 一下下 东西 有点 好像 感觉 到底 究竟 呢 哎
    多久 多长 多长时间 多少天 几天 在哪 在哪里 在哪儿 哪儿 哪里 到哪 是否 能否
    可否 行不行 好不好 可以吗
    pls plz thx okay ok
    a an the is are was were be been being am i me my we our you your he she it its they them
    their this that these those of to in on at for from by with about as and or but if so do
    does did doing have has had can could would should will shall may might must not no yes
    please hi hello thanks thank what how why when where which who whom there here get got any
    some just still also very really too much many more most
    """.split()
)


def _converter() -> opencc.OpenCC:
    local = _LOCAL.__dict__
    if "cc" not in local:  # one converter per thread: OpenCC objects are not shared
        local["cc"] = opencc.OpenCC("tw2sp.json")
    return local["cc"]


_LOCAL = threading.local()


# Longer texts are folded each time, not cached: 4,096 long mails kept alive would be a
# memory bill a sender chooses (short texts are the ones that repeat).
FOLD_CACHE_CHARS = 2000


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    if _HAS_CJK.search(text):
        text = _converter().convert(text)
    return text


_fold_short = lru_cache(maxsize=4096)(_fold)


class _Fold:
    """``fold(text)``: full-width -> half-width (NFKC), lowercase, Traditional -> Simplified
    (Taiwan phrases included). Cached up to FOLD_CACHE_CHARS: customers and articles repeat
    themselves."""

    def __call__(self, text: str) -> str:
        return _fold_short(text) if len(text) <= FOLD_CACHE_CHARS else _fold(text)

    cache_clear = staticmethod(_fold_short.cache_clear)
    cache_info = staticmethod(_fold_short.cache_info)


fold = _Fold()


def simplified(text: str) -> str:
    """Traditional -> Simplified (Taiwan phrases included) and nothing else: for text whose
    other characters must stay as they are (a rule's regular expression)."""
    return _converter().convert(text) if _HAS_CJK.search(text) else text


def stem(word: str) -> str:
    """A light English stemmer: plurals and -ing / -ed, the same on both sides of a search."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("ing") and len(word) > 5:
        word = word[:-3]
    elif word.endswith("ed") and len(word) > 4:
        word = word[:-2]
    else:
        return word[:-1] if word.endswith("e") and len(word) > 4 else word
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
        word = word[:-1]  # shipped, shipping -> ship
    return word


class Synonyms:
    """Groups of interchangeable terms (``["退款", "退钱", "refund"]``): every term of a group
    reads as its first one, in queries and documents alike. Terms may be phrases."""

    def __init__(self, groups: Iterable[Iterable[str]] = ()) -> None:
        self.groups: list[list[str]] = []
        mapping: dict[str, str] = {}
        for group in groups:
            terms = [fold(t).strip() for t in group if t and t.strip()]
            terms = list(dict.fromkeys(terms))
            if len(terms) < 2:
                continue
            self.groups.append(terms)
            for term in terms[1:]:
                mapping.setdefault(term, terms[0])
        self.mapping = mapping
        # English single words also by their stem ("refunds" reads as "refund").
        self.stems = {stem(t): c for t, c in mapping.items() if t.isascii() and t.isalpha()}
        self._pattern = None
        if mapping:
            alternatives = []
            for term in sorted(mapping, key=len, reverse=True):
                escaped = re.escape(term)
                # An English term matches whole words only ("ship" is not in "shipping").
                alternatives.append(escaped if _HAS_CJK.search(term) else rf"\b{escaped}\b")
            self._pattern = re.compile("|".join(alternatives))
        for terms in self.groups:  # keep Chinese canonical terms whole when segmenting
            if _HAS_CJK.search(terms[0]) and " " not in terms[0]:
                rjieba.add_word(terms[0], None, None)

    @classmethod
    def parse(cls, lines: Iterable[str]) -> Synonyms:
        """One group per line, terms separated by commas (ASCII or Chinese)."""
        return cls([re.split(r"[,，、]", line) for line in lines if line.strip()])

    def apply(self, folded: str) -> str:
        if self._pattern is None:
            return folded
        return self._pattern.sub(lambda m: self.mapping[m.group(0)], folded)


class Analyzer:
    """Text -> tokens for indexing and querying (the same function on both sides)."""

    def __init__(self, synonyms: Synonyms | None = None) -> None:
        self.synonyms = synonyms or Synonyms()

    def tokens(self, text: str) -> list[str]:
        folded = self.synonyms.apply(fold(text))
        out: list[str] = []
        stems = self.synonyms.stems
        for run in _RUNS.findall(folded):
            if _HAS_CJK.match(run):
                chunk = ""  # words between stop words, for character bigrams
                for word in rjieba.cut(run):
                    if word in STOP_WORDS:
                        out.extend(_bigrams(chunk))
                        chunk = ""
                    else:
                        out.append(word)
                        chunk += word
                out.extend(_bigrams(chunk))
            elif run not in STOP_WORDS:
                word = stem(run)
                out.append(stems.get(word, word))
        return out


def _bigrams(chunk: str) -> list[str]:
    """Character bigrams of a stretch of Chinese (they survive typos and other
    segmentations), marked so they never equal a word."""
    return ["~" + chunk[i : i + 2] for i in range(len(chunk) - 1)]
