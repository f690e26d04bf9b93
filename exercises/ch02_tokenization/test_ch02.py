"""Frozen tests for chapter 2: hand-worked examples, then agreement with the library's `ScratchBPE`."""

import pytest

from mosslite.tokenizer import ScratchBPE
from mosslite.tokenizer.bpe import merge as library_merge

WHOLE_TEXT = r"(?s).+"  # one chunk per text: no regex pre-split, as in the exercise
TEXT = ("The quick brown fox jumps over the lazy dog; the dog sleeps.\n"
        "我们的人民，人民的国家。人民爱我们的国家。\n"
        "    indented    line\n\n\t🙂🙂 done") * 3


def test_pair_counts_by_hand(impl):
    assert impl.get_pair_counts([1, 2, 3, 1, 2]) == {(1, 2): 2, (2, 3): 1, (3, 1): 1}
    assert impl.get_pair_counts([7, 7, 7]) == {(7, 7): 2}
    assert impl.get_pair_counts([5]) == {}
    assert impl.get_pair_counts([]) == {}


def test_merge_by_hand(impl):
    assert impl.merge([5, 6, 6, 7, 9, 1], (6, 7), 99) == [5, 6, 99, 9, 1]
    assert impl.merge([1, 1, 1], (1, 1), 9) == [9, 1]
    assert impl.merge([1, 1, 1, 1], (1, 1), 9) == [9, 9]
    assert impl.merge([1, 2], (2, 1), 9) == [1, 2]


@pytest.mark.parametrize("pair", [(32, 116), (116, 104), (228, 186), (32, 32)])
def test_merge_matches_the_library(impl, pair):
    ids = list(TEXT.encode("utf-8"))
    assert impl.merge(ids, pair, 1000) == library_merge(ids, pair, 1000)


def test_train_by_hand(impl):
    # "aaabdaaabac": aa occurs 4 times -> 256; then (97, 98) and (256, 97) tie at 2, the smaller pair wins -> 257;
    # the text is now [256, 257, d, 256, 257, a, c], so (256, 257) -> 258.
    assert impl.train("aaabdaaabac", 259) == {(97, 97): 256, (97, 98): 257, (256, 257): 258}
    assert impl.train("a", 300) == {}  # nothing to merge: stop early


@pytest.mark.parametrize("vocab_size", [256, 270, 330])
def test_train_matches_the_library(impl, vocab_size):
    reference = ScratchBPE.train([TEXT], vocab_size, special_tokens=[], pattern=WHOLE_TEXT)
    assert impl.train(TEXT, vocab_size) == reference.merges


def test_encode_matches_the_library_and_round_trips(impl):
    merges = impl.train(TEXT, 330)
    library = ScratchBPE(merges, special_tokens={}, pattern=WHOLE_TEXT)
    for text in (TEXT, "the lazy 人民 🙂", "unseen: 你好 ☃", ""):
        ids = impl.encode(text, merges)
        assert ids == library.encode(text)
        assert library.decode(ids) == text


def test_encoding_the_training_text_compresses_it(impl):
    merges = impl.train(TEXT, 300)
    ids = impl.encode(TEXT, merges)
    assert len(ids) < len(TEXT.encode("utf-8")) // 2  # 44 merges halve this repetitive text
    assert impl.encode("aaabdaaabac", impl.train("aaabdaaabac", 259)) == [258, 100, 258, 97, 99]
