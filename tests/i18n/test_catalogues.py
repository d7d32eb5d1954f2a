"""The catalogues: every language has every key (zh-TW every customer-facing one), the
placeholders match, and a missing key makes the check fail."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.i18n.catalog import (
    CUSTOMER_PREFIX,
    LANGUAGES,
    LOCALE_DIR,
    catalogue,
    folder_of,
    read_folder,
)

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
PLURAL_FORMS = {"zero", "one", "two", "few", "many", "other"}  # CLDR plural categories


def gaps(catalogues: dict[str, dict[str, str]]) -> list[str]:
    """What one catalogue lacks that another has: zh-TW needs only the customer keys. A
    language's plural forms (``<key>#one``, CLDR categories) are its own: none is needed
    elsewhere, but each needs its key."""
    every = {k for c in catalogues.values() for k in c if "#" not in k}
    customer = {k for k in every if k.startswith(CUSTOMER_PREFIX)}
    problems = []
    for lang, table in catalogues.items():
        needed = customer if lang == "zh-TW" else every
        problems += [f"{lang} lacks {key}" for key in sorted(needed - set(table))]
        problems += [
            f"{lang} {key}: no such key or form"
            for key in sorted(table)
            if "#" in key
            and (key.split("#")[0] not in table or key.split("#")[1] not in PLURAL_FORMS)
        ]
    return problems


def placeholder_mismatches(catalogues: dict[str, dict[str, str]]) -> list[str]:
    problems = []
    reference = catalogues["en"]
    for lang, table in catalogues.items():
        for key, text in table.items():
            base = key.split("#")[0]  # a plural form says what its key says
            if base in reference and set(PLACEHOLDER.findall(text)) != set(
                PLACEHOLDER.findall(reference[base])
            ):
                problems.append(f"{lang} {key}: placeholders differ from en")
    return problems


def test_every_catalogue_has_every_key() -> None:
    catalogues = {lang: dict(catalogue(lang)) for lang in LANGUAGES}
    assert all(catalogues.values())
    assert gaps(catalogues) == []


def test_placeholders_agree_with_english() -> None:
    catalogues = {lang: dict(catalogue(lang)) for lang in LANGUAGES}
    assert placeholder_mismatches(catalogues) == []


def test_a_key_missing_in_one_catalogue_is_found(tmp_path: Path) -> None:
    """The check above can fail: a copy of the catalogues with one key taken out of zh_CN."""
    for lang in LANGUAGES:
        src = LOCALE_DIR / folder_of(lang) / "LC_MESSAGES"
        dst = tmp_path / folder_of(lang)
        dst.mkdir()
        for po in src.glob("*.po"):
            (dst / po.name).write_text(po.read_text(encoding="utf-8"), encoding="utf-8")
    victim = tmp_path / "zh_CN" / "customer.po"
    text = victim.read_text(encoding="utf-8")
    cut = re.sub(r'msgid "customer\.email\.quote"\nmsgstr "[^"]*"\n', "", text)
    assert cut != text
    victim.write_text(cut, encoding="utf-8")
    catalogues = {lang: read_folder(tmp_path / folder_of(lang)) for lang in LANGUAGES}
    assert gaps(catalogues) == ["zh-CN lacks customer.email.quote"]


def test_zh_tw_lacking_a_customer_key_is_found() -> None:
    catalogues = {lang: dict(catalogue(lang)) for lang in LANGUAGES}
    some_customer_key = next(k for k in catalogues["en"] if k.startswith(CUSTOMER_PREFIX))
    del catalogues["zh-TW"][some_customer_key]
    assert gaps(catalogues) == [f"zh-TW lacks {some_customer_key}"]


def test_every_po_file_of_a_folder_is_merged(tmp_path: Path) -> None:
    """Other features add their own <domain>.po beside ours: all are read."""
    (tmp_path / "a.po").write_text('msgid "x.one"\nmsgstr "一"\n', encoding="utf-8")
    (tmp_path / "b.po").write_text('msgid "x.two"\nmsgstr "二"\n', encoding="utf-8")
    assert read_folder(tmp_path) == {"x.one": "一", "x.two": "二"}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_agent_text_reaches_a_customer_catalogue_untranslated(lang: str) -> None:
    """A Chinese catalogue's customer texts are Chinese: none is left as the English one."""
    if lang == "en":
        return
    en = catalogue("en")
    same = [
        k
        for k, v in catalogue(lang).items()
        if k.startswith(CUSTOMER_PREFIX) and v == en.get(k) and re.search("[A-Za-z]{3}", v)
    ]
    assert same == []


def test_a_plural_form_without_its_key_is_found() -> None:
    catalogues = {lang: dict(catalogue(lang)) for lang in LANGUAGES}
    catalogues["en"]["supervisor.summray#one"] = "{held} conversation held"
    catalogues["en"]["supervisor.summary#single"] = "{held} conversation held"
    assert gaps(catalogues) == [
        "en supervisor.summary#single: no such key or form",
        "en supervisor.summray#one: no such key or form",
    ]
