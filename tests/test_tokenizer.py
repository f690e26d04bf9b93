"""Tokenizers: lossless round trips, scratch == fast given the same merges, atomic special tokens, GPT-2 parity,
vocabulary extension, files and the CLI."""

import json

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mosslite.cli import main
from mosslite.config import get_config
from mosslite.model import build_model
from mosslite.tokenizer import FastBPE, ScratchBPE, load_tokenizer, train_tokenizer
from mosslite.tokenizer.extend import chars_per_token, extend_vocabulary, resize_vocabulary
from mosslite.tokenizer.gpt2 import GPT2_PATTERN, gpt2_ranks_path, load_gpt2, read_ranks

EN = ["The cat sat on the mat.", "Kelob lives in Morvik, a city of 12345 people.", "def f(x):\n    return x ** 2\n",
      "  Indented   text\twith\ttabs\n\n\nand blank lines  \n"]
ZH = ["Kelob 住在 Morvik。他最喜欢的颜色是红色。", "复旦大学的 MOSS 是一个对话模型，支持中文和英文。", "１２３ 全角数字，和 emoji 👋🏽！"]
TEXTS = (EN + ZH) * 20


@pytest.fixture(scope="module")
def pair():
    scratch = train_tokenizer(TEXTS, 400, backend="scratch")
    return scratch, FastBPE(scratch.to_json())


UNICODE = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80)
MIXED = st.lists(st.sampled_from(["a", "b", " ", "  ", "\n", "\t", "中", "文", "😀", "'s", "12", "<eom>", "ab", "\r"]),
                 max_size=40).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(UNICODE, MIXED))
def test_round_trip_and_identical_ids(pair, text):
    scratch, fast = pair
    ids = scratch.encode(text)
    assert ids == fast.encode(text)
    assert scratch.decode(ids) == text == fast.decode(ids)


def test_whitespace_runs_and_newlines_survive(pair):
    """MOSS bug #315: space-run tokens swallowed neighbouring newlines, so decode(encode(x)) lost indentation."""
    for tok in pair:
        for text in ["a  \n  b", "if x:\n        return\n\n    pass", " \n \n", "\t\t\n  \t"]:
            assert tok.decode(tok.encode(text)) == text


def test_special_tokens_are_atomic_and_only_when_allowed(pair):
    for tok in pair:
        eom = tok.special_tokens["<eom>"]
        assert eom not in tok.encode("user typed <eom> here")
        assert tok.encode("a<eom>b", allowed_special="all").count(eom) == 1
        assert tok.encode("<eom><eoh>", allowed_special={"<eom>"}).count(tok.special_tokens["<eoh>"]) == 0
        assert tok.decode([eom]) == "<eom>"
        with pytest.raises(ValueError, match="lacks"):
            tok.encode("x", allowed_special={"<nope>"})


def test_vocab_layout_and_training_both_paths():
    for backend in ("scratch", "fast"):
        tok = train_tokenizer(TEXTS, 350, backend=backend)
        assert tok.vocab_size == 350
        assert sorted(tok.special_tokens.values()) == list(range(344, 350))  # specials take the last ids
        assert tok.decode(tok.encode(ZH[1])) == ZH[1]
        assert len(tok.encode(EN[1])) < len(EN[1].encode())  # it learned merges


def test_save_load_fingerprint_and_bad_files(tmp_path, pair):
    scratch, fast = pair
    path = fast.save(tmp_path / "tok")
    assert path.name == "tokenizer.json"
    for backend in ("fast", "scratch"):
        loaded = load_tokenizer(tmp_path / "tok", backend=backend)
        assert loaded.encode(ZH[0]) == fast.encode(ZH[0])
        assert loaded.fingerprint() == fast.fingerprint() == scratch.fingerprint()
    other = train_tokenizer(TEXTS, 420)
    assert other.fingerprint() != fast.fingerprint()
    with pytest.raises(FileNotFoundError, match="no tokenizer at"):
        load_tokenizer(tmp_path / "missing")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json is not a usable tokenizer.json"):
        load_tokenizer(tmp_path / "bad.json")
    (tmp_path / "wordpiece.json").write_text(json.dumps({"model": {"type": "WordPiece"}}))
    with pytest.raises(ValueError, match="not a byte-level BPE"):
        load_tokenizer(tmp_path / "wordpiece.json")


def test_hf_transformers_reads_the_file(tmp_path, pair):
    from transformers import PreTrainedTokenizerFast

    _, fast = pair
    fast.save(tmp_path)
    hf = PreTrainedTokenizerFast(tokenizer_file=str(tmp_path / "tokenizer.json"))
    assert hf.encode(ZH[0]) == fast.encode(ZH[0])


@pytest.mark.skipif(gpt2_ranks_path() is None, reason="gpt2.tiktoken not cached: run scripts/fetch_gpt2_vocab.py")
def test_gpt2_parity_with_tiktoken():
    import tiktoken

    ours = load_gpt2()
    theirs = tiktoken.Encoding(name="gpt2", pat_str=GPT2_PATTERN, mergeable_ranks=read_ranks(gpt2_ranks_path()),
                               special_tokens={"<|endoftext|>": 50256})
    text = "\n".join(EN + ZH) + " MOSS: moss-moon-003 <|endoftext|> 16,717,980,160 params!"
    assert ours.vocab_size == 50257
    assert ours.encode(text) == theirs.encode(text, disallowed_special=())  # both: special text as plain text
    assert ours.encode("<|endoftext|>", allowed_special="all") == [50256]
    assert ours.decode(ours.encode(text)) == text


def test_extension_improves_chinese_and_keeps_english():
    english = train_tokenizer(EN * 30, 320)
    zh_before, en_before = chars_per_token(english, ZH), chars_per_token(english, EN)
    extended = extend_vocabulary(english, ZH * 30, 60)
    assert extended.vocab_size == 380
    assert chars_per_token(extended, ZH) > 1.5 * zh_before
    assert chars_per_token(extended, EN) == en_before
    for text in EN:  # old merges unchanged: English encodes to the same ids
        assert extended.encode(text) == english.encode(text)


def test_resize_copies_known_rows_and_averages_pieces_for_new_ones():
    english = train_tokenizer(EN * 30, 320)
    extended = extend_vocabulary(english, ZH * 30, 60)
    torch.manual_seed(0)
    model = build_model(get_config("toy", vocab_size=english.vocab_size))
    old_emb, old_head = model.tok_emb.weight.clone(), model.lm_head.weight.clone()
    resize_vocabulary(model, english, extended)
    assert model.tok_emb.weight.shape == (380, 64) and model.lm_head.bias.shape == (380,)
    assert model.config.vocab_size == 380
    eom_old, eom_new = english.special_tokens["<eom>"], extended.special_tokens["<eom>"]
    assert torch.equal(model.tok_emb.weight[eom_new], old_emb[eom_old])  # a moved special token keeps its row
    new_id = 314 + 10  # a token added by the extension
    pieces = ScratchBPE.encode_bytes(load_scratch(english), extended.token_bytes(new_id))
    assert len(pieces) > 1
    torch.testing.assert_close(model.tok_emb.weight[new_id], old_emb[pieces].mean(0))
    torch.testing.assert_close(model.lm_head.weight[new_id], old_head[pieces].mean(0))
    model(torch.tensor([[new_id, eom_new]]))  # the resized model runs


def load_scratch(tok):
    from mosslite.tokenizer.fast import scratch_from_json

    return scratch_from_json(tok.to_json())


def test_cli_train_and_show(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(TEXTS))
    assert main(["tokenizer", "train", "--corpus", str(corpus), "--vocab-size", "300", "--out",
                 str(tmp_path / "tok")]) == 0
    assert main(["tokenizer", "show", "复旦 MOSS", "--tokenizer", str(tmp_path / "tok")]) == 0
    out = capsys.readouterr().out
    assert "300-token fast BPE" in out and "characters ->" in out
