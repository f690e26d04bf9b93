"""Properties over random Unicode (Chinese, emoji, mixed whitespace and newlines): lossless round trips, identical ids
from the scratch and fast encoders given the same merges, atomic special tokens, GPT-2 parity with tiktoken."""

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mosslite.tokenizer import MOSS_SPECIAL_TOKENS, FastBPE, train_tokenizer
from mosslite.tokenizer.bpe import merge, merge_tracked
from mosslite.tokenizer.fast import scratch_from_json
from mosslite.tokenizer.gpt2 import GPT2_PATTERN, gpt2_ranks_path, load_gpt2, load_gpt2_ranks

CORPUS = ["The cat sat on the mat.\n", "def f(x):\n    return x ** 2\n\n", "  indented\t\ttabs  \r\n",
          "复旦大学的 MOSS 是一个对话模型，支持中文和英文。", "Kelob 住在 Morvik。emoji 👋🏽 and ｆｕｌｌ-width １２３"] * 30
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

ANY = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)  # any code point but surrogates
PIECES = ["a", "b", "the", " ", "  ", "   ", "\n", "\n\n", "\t", "\r", "\u3000", "中", "文", "。", "😀", "👋🏽", "'s",
          "12", "1234", "<", "|", ">", "<e", "om>", "<|Human|>"]
MIXED = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)  # the hard cases, densely
TEXT = st.one_of(ANY, MIXED)


@pytest.fixture(scope="module")
def tokenizers():
    """A scratch-trained pair and a fast-trained pair, each loaded into the other backend."""
    scratch = train_tokenizer(CORPUS, 420, backend="scratch")
    fast = train_tokenizer(CORPUS, 420, backend="fast")
    return [(scratch, FastBPE(scratch.to_json())), (scratch_from_json(fast.to_json()), fast)]


@SETTINGS
@given(text=TEXT)
def test_round_trip_and_scratch_ids_equal_fast_ids(tokenizers, text):
    for scratch, fast in tokenizers:
        ids = scratch.encode(text)
        assert ids == fast.encode(text)
        assert scratch.decode(ids) == text == fast.decode(ids)


@SETTINGS
@given(parts=st.lists(st.one_of(TEXT, st.sampled_from(MOSS_SPECIAL_TOKENS)), max_size=8))
def test_special_tokens_are_atomic_and_never_come_from_plain_text(tokenizers, parts):
    text = "".join(parts)
    for tok in tokenizers[0]:
        specials = set(tok.special_tokens.values())
        plain = tok.encode(text)
        assert not specials & set(plain) and tok.decode(plain) == text  # default: "<eom>" is just bytes
        allowed = tok.encode(text, allowed_special="all")
        assert tok.decode(allowed) == text
        assert sum(i in specials for i in allowed) == sum(text.count(s) for s in MOSS_SPECIAL_TOKENS)


@settings(max_examples=300, deadline=None)
@given(ids=st.lists(st.sampled_from([1, 2, 3]), max_size=30), pair=st.sampled_from([(1, 2), (2, 2), (3, 1)]))
def test_merge_tracked_reports_exactly_the_pairs_that_changed(ids, pair):
    merged, gone, born = merge_tracked(ids, pair, 9)
    assert merged == merge(ids, pair, 9)
    before, after = Counter(zip(ids, ids[1:])), Counter(zip(merged, merged[1:]))
    assert before - Counter(gone) + Counter(born) == after
    assert not Counter(gone) - before  # it only removes pairs that were there


@pytest.mark.skipif(gpt2_ranks_path() is None, reason="gpt2.tiktoken not cached: run scripts/fetch_gpt2_vocab.py")
def test_gpt2_scratch_encoder_equals_tiktoken_on_random_text():
    import tiktoken

    ours = load_gpt2()
    theirs = tiktoken.Encoding(name="gpt2", pat_str=GPT2_PATTERN, mergeable_ranks=load_gpt2_ranks(),
                               special_tokens={"<|endoftext|>": 50256})

    @settings(max_examples=150, deadline=None)
    @given(text=TEXT)
    def check(text):
        assert ours.encode(text) == theirs.encode(text, disallowed_special=())
        assert ours.decode(ours.encode(text)) == text

    check()
