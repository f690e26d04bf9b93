"""Cleaning: each step removes what it should from realistic dirty pages, keeps what it should from real text,
and accounts for every line it touches."""

import random

import pytest

from mosslite.data.clean import (
    MinHasher,
    Normalize,
    Pipeline,
    explain,
    jaccard,
    language_of,
    repetition,
    symbol_ratio,
)
from mosslite.data.dirty_pages import BLOG, EN_NEWS, PAGES, SPAM, ZH_NEWS, ZH_REPOST


@pytest.fixture(scope="module")
def result():
    return Pipeline.default().run(PAGES.values())


def kept(result, name):
    index = list(PAGES).index(name)
    return result.documents[result.kept_ids.index(index)] if index in result.kept_ids else None


def reasons(result, name):
    index = list(PAGES).index(name)
    return [(c.step, c.reason) for c in result.changes if c.doc == index]


def test_chinese_news_page_keeps_the_article_and_nothing_else(result):
    text = kept(result, "zh_news")
    assert text.startswith("小城图书馆开设夜间阅读室")
    assert "夜间阅读室共有120个座位，提供免费无线网络和热水。" in text  # full-width digits and commas fixed
    assert text.endswith("并举办每月一次的读书分享会。")
    for junk in ("首页", "分享到", "图为", "广告", "相关新闻", "口袋公园", "社区食堂", "责任编辑", "ICP"):
        assert junk not in text, junk
    why = {r for _, r in reasons(result, "zh_news")}
    assert {"navigation", "share buttons", "image caption", "advertisement", "related-news header",
            "related-news link list", "footer"} <= why
    assert sum(r == "related-news link list" for _, r in reasons(result, "zh_news")) == 8


def test_english_page_and_its_exact_copy(result):
    text = kept(result, "en_news")
    assert text.splitlines()[0] == "Riverside library opens a night reading room"
    for junk in ("Home |", "Sign in", "Share on", "Photo:", "Advertisement", "Related", "metro", "Copyright"):
        assert junk not in text, junk
    assert kept(result, "en_news_again") is None
    assert ("exact_dup", "same text as document 1") in reasons(result, "en_news_again")


def test_spam_repeats_repost_and_other_languages(result):
    assert kept(result, "spam") is None
    steps = dict(reasons(result, "spam"))
    assert any(r.startswith("mixed-script spam") for r in steps.values())
    assert any(s == "quality" and r.startswith("repetition") for s, r in reasons(result, "spam"))
    blog = kept(result, "blog")
    assert blog.count("The tulips came up early") == 1 and "beans and peas" in blog
    assert kept(result, "zh_repost") is None
    assert any(s == "near_dup" and "document 0" in r for s, r in reasons(result, "zh_repost"))
    assert kept(result, "ru_page") is None and ("language", "language 'ru' not in ('en', 'zh')") in reasons(
        result, "ru_page")
    assert kept(result, "too_short") is None


def test_nothing_is_dropped_silently(result):
    """Every non-blank input line is either in the output (perhaps normalised) or named by a change."""
    normalize = Normalize()
    for index, page in enumerate(PAGES.values()):
        changes = [c for c in result.changes if c.doc == index]
        if any(c.what == "document" for c in changes):
            continue
        out_lines = set(result.documents[result.kept_ids.index(index)].split("\n"))
        removed = {c.line for c in changes if c.what == "line"}
        for no, line in enumerate(page.split("\n")):
            if line.strip():
                assert no in removed or normalize.normalize(line)[0] in out_lines, line


def test_report_table_counts_every_step(result):
    table = result.table()
    for step in ("normalize", "boilerplate", "language", "repeats", "quality", "exact_dup", "near_dup"):
        assert f"| {step} |" in table
    assert "| **kept** | 3 of 8 |" in table


@pytest.mark.parametrize("raw, clean", [
    ("ＡＢＣ１２３，ｘｙｚ", "ABC123,xyz"),  # full-width ASCII folded; no Chinese, so the comma is ASCII
    ("他说,我们走吧!", "他说，我们走吧！"),  # ASCII punctuation inside Chinese takes the full-width form
    ("Hello，world！", "Hello,world!"),
    ("价格是3.5元", "价格是3.5元"),  # a decimal point is not a full stop
    ("x² + ½ = ①", "x² + ½ = ①"),  # NFKC would change the meaning: left alone
    ("ﬁne\u200b text\u00a0here", "fine text here"),  # ligature, zero-width space, no-break space
    ("Kelob住在Morvik。", "Kelob住在Morvik。"),  # code-switched Chinese keeps its full stop
    ("中文……省略", "中文……省略"),  # the Chinese ellipsis is not three dots
])
def test_normalize_where_safe(raw, clean):
    assert Normalize().normalize(raw)[0] == clean


def test_real_sentences_with_boilerplate_words_survive():
    text = "我们要推广普通话。\n地面湿了，我来扫一扫。\nThat is not the duke's letter, sir; that is an advertisement.\n" \
           "1. What shall he have that kill'd the deer?\n2. His leather skin and horns to wear.\n" \
           "3. Then sing him home, the rest shall bear this burden."
    out = Pipeline.default(min_units=5).run([text]).documents
    assert out == [text]


def test_scripts_and_heuristics():
    assert language_of("Kelob住在Morvik，他是一名老师。") == "zh"
    assert language_of("東京の天気は晴れです") == "ja"
    assert language_of("1234 !!!") == "none"
    assert symbol_ratio("★★★ hi ★★★") > 0.5 > symbol_ratio(EN_NEWS)
    assert repetition(SPAM) > 0.3 > repetition(ZH_NEWS) and repetition(BLOG) < 0.1


def test_minhash_estimates_jaccard():
    rng = random.Random(0)
    words = [f"w{rng.randrange(10_000)}" for _ in range(3000)]
    a = " ".join(words)
    b = " ".join(words[:2000] + [f"v{rng.randrange(10_000)}" for _ in range(1000)])
    hasher = MinHasher(num_perm=256)
    true = jaccard(set(hasher.shingles(a).tolist()), set(hasher.shingles(b).tolist()))
    estimate = float((hasher.signature(a) == hasher.signature(b)).mean())
    assert 0.3 < true < 0.7 and abs(estimate - true) < 0.08


def test_explain_shows_each_line_fate():
    views = explain(ZH_REPOST, before=[ZH_NEWS])
    assert {v.status for v in views} == {"removed"}
    assert views[0].step == "boilerplate" and views[0].reason == "navigation"
    assert views[3].step == "near_dup" and "document 0" in views[3].reason
    views = explain(ZH_NEWS)
    status = {v.text: v.status for v in views}
    assert status["小城图书馆开设夜间阅读室"] == "kept" and status["相关新闻"] == "removed"
    assert any(v.status == "edited" and "120" in v.after for v in views)
