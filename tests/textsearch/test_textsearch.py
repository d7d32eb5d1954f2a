"""gateway/textsearch: folding, tokens, synonyms, the index and its coverage."""

from gateway.textsearch import Analyzer, SearchIndex, Synonyms, fold


def test_fold_width_case_and_traditional() -> None:
    assert fold("ＡＢＣ１２３") == "abc123"
    assert fold("Refund") == "refund"
    assert fold("我的印表機卡紙了") == "我的打印机卡纸了"  # Taiwan phrase too
    assert fold("軟體更新") == "软件更新"


def test_tokens_chinese_words_bigrams_and_stop_words() -> None:
    tokens = Analyzer().tokens("我的印表機卡紙了，怎麼辦？")
    assert "打印机" in tokens and "卡纸" in tokens
    assert "~机卡" in tokens  # bigrams across words
    assert not {"我", "的", "了", "怎么办", "~的打"} & set(tokens)


def test_tokens_english_stems() -> None:
    tokens = Analyzer().tokens("The parcels were shipped; shipping boxes")
    assert tokens == ["parcel", "ship", "ship", "box"]


def test_synonyms_map_to_the_first_term_phrases_and_stems() -> None:
    analyzer = Analyzer(Synonyms.parse(["退款，退钱、refund, money back"]))
    assert analyzer.tokens("我要退錢")[:1] == ["退款"]
    assert "退款" in analyzer.tokens("I want my money back")
    assert "退款" in analyzer.tokens("two refunds")
    # Whole English words only.
    assert "退款" not in Analyzer(Synonyms([["快递", "ship"]])).tokens("shipment")


def test_index_ranks_and_reports_coverage() -> None:
    analyzer = Analyzer()
    index = SearchIndex(
        analyzer,
        [
            ("jam", [("打印机卡纸怎么办", 3), ("打开前盖，取出卡住的纸张", 1)]),
            ("ink", [("墨盒没墨了怎么换", 3), ("打开前盖，按下墨盒取出", 1)]),
        ],
    )
    hits = index.search("印表機卡紙")
    assert hits[0].id == "jam" and hits[0].coverage == 1.0
    assert index.search("你们老板是谁") == []
    partial = index.search("打印机卡纸 发票")[0]
    assert partial.id == "jam" and 0.3 < partial.coverage < 0.9
    assert SearchIndex(analyzer, []).search("anything") == []


def test_a_long_text_is_folded_but_not_kept():
    """The fold cache keeps short texts only: a sender of long mails cannot make every process
    hold thousands of them."""
    fold.cache_clear()
    long_text = "機器冒煙ＡＢＣ" * 1000
    assert fold(long_text) == "机器冒烟abc" * 1000
    assert fold("機器冒煙") == "机器冒烟"
    assert fold.cache_info().currsize == 1  # the short one
