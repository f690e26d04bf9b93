"""Frozen tests for chapter 1: boilerplate, near-duplicates, mixtures."""

import random
from collections import Counter

import pytest

from mosslite.data.dirty_pages import EN_NEWS, ZH_NEWS, ZH_REPOST


# -------------------------------------------------------------------------------------------------- boilerplate
def test_chinese_page_keeps_the_article(impl):
    clean, removed = impl.strip_boilerplate(ZH_NEWS)
    for line in ("小城图书馆开设夜间阅读室", "图书馆还计划在今年夏天增加儿童绘本区,并举办每月一次的读书分享会。"):
        assert line in clean.split("\n")
    for junk in ("首页 | 新闻 | 体育 | 娱乐 | 财经 | 科技 | 汽车", "分享到：微信 微博 QQ空间", "相关新闻",
                 "· 社区食堂受到老人欢迎 2024-02-22", "责任编辑：王芳"):
        assert junk in removed and junk not in clean
    assert [ln for ln in ZH_NEWS.split("\n") if ln not in removed] == clean.split("\n")


def test_english_page_keeps_the_article(impl):
    clean, removed = impl.strip_boilerplate(EN_NEWS)
    assert "The Riverside public library opened a night reading room on Monday." in clean
    for junk in ("Advertisement", "Related stories", "- Home team wins at last (26-02)", "Privacy Policy"):
        assert junk in removed


def test_real_sentences_with_keywords_are_kept(impl):
    text = "我们要推广普通话。\n这家公司的广告做得很好。\nHe shared it on the first day."
    assert impl.strip_boilerplate(text) == (text, [])


# ---------------------------------------------------------------------------------------------------- near-dup
def test_shingles_and_jaccard(impl):
    assert impl.shingles("ab cde", 3) == {"abc", "bcd", "cde"}
    assert impl.shingles("Hi", 5) == {"hi"}
    assert impl.jaccard({1, 2, 3}, {2, 3, 4}) == 0.5 and impl.jaccard(set(), set()) == 0.0


def test_minhash_estimates_jaccard(impl):
    rng = random.Random(1)
    base = [f"w{rng.randrange(5000)}" for _ in range(600)]
    a, b = " ".join(base), " ".join(base[:400] + [f"x{rng.randrange(5000)}" for _ in range(200)])
    sa, sb = impl.shingles(a), impl.shingles(b)
    sig_a, sig_b = impl.minhash_signature(sa, 256, seed=3), impl.minhash_signature(sb, 256, seed=3)
    assert len(sig_a) == 256 and impl.minhash_signature(sa, 256, seed=3) == sig_a
    assert abs(impl.estimated_jaccard(sig_a, sig_b) - impl.jaccard(sa, sb)) < 0.08
    assert impl.estimated_jaccard(sig_a, sig_a) == 1.0


def test_a_repost_is_a_near_duplicate_and_other_news_is_not(impl):
    article = lambda page: "\n".join(ln for ln in page.split("\n") if ln.endswith("。") or ln.endswith('"'))  # noqa: E731
    sig = lambda t: impl.minhash_signature(impl.shingles(t), 128)  # noqa: E731
    assert impl.estimated_jaccard(sig(article(ZH_NEWS)), sig(article(ZH_REPOST))) > 0.6
    assert impl.estimated_jaccard(sig(ZH_NEWS), sig(EN_NEWS)) < 0.1


# ----------------------------------------------------------------------------------------------------- mixture
SOURCES = {"en": [f"english document {i} " * (1 + i % 5) for i in range(200)],
           "zh": [f"中文文档{i}" * (1 + i % 3) for i in range(20)]}


def test_mixture_meets_shares_within_one_document(impl):
    out = impl.sample_mixture(SOURCES, {"en": 0.9, "zh": 0.1}, 20_000)
    units = Counter()
    for name, doc in out:
        units[name] += len(doc)
    for name, share in (("en", 0.9), ("zh", 0.1)):
        longest = max(map(len, SOURCES[name]))
        assert share * 20_000 <= units[name] < share * 20_000 + longest
    assert Counter(name for name, _ in out)["zh"] > len(SOURCES["zh"])  # the small source was repeated


def test_mixture_is_deterministic_shuffled_and_checked(impl):
    a = impl.sample_mixture(SOURCES, {"en": 0.5, "zh": 0.5}, 2000, seed=7)
    assert a == impl.sample_mixture(SOURCES, {"en": 0.5, "zh": 0.5}, 2000, seed=7)
    names = [n for n, _ in a]
    assert names != sorted(names)  # interleaved, not one source after the other
    first_pass = [d for n, d in a if n == "en"][: len(SOURCES["en"])]
    assert len(set(first_pass)) == len(first_pass)  # no repeat before every document was used
    with pytest.raises(ValueError):
        impl.sample_mixture(SOURCES, {"en": 0.5, "zh": 0.4}, 100)
