"""Tokenizers by example: training matches a naive trainer, the whitespace bug MOSS had (#315) and our fix, special
tokens, files, GPT-2 parity, vocabulary extension with embedding resize, and the CLI."""

import json
from collections import Counter

import pytest
import torch

from mosslite.cli import main
from mosslite.config import get_config
from mosslite.model import build_model
from mosslite.tokenizer import FastBPE, ScratchBPE, load_tokenizer, train_tokenizer
from mosslite.tokenizer.bpe import merge
from mosslite.tokenizer.extend import (
    as_scratch,
    chars_per_token,
    compression_table,
    extend_vocabulary,
    resize_vocabulary,
    row_sources,
    vocabulary_share,
)
from mosslite.tokenizer.gpt2 import (
    GPT2_PATTERN,
    fetch_gpt2_ranks,
    gpt2_ranks_path,
    load_gpt2,
    load_gpt2_ranks,
)
from mosslite.tokenizer.legacy import codegen_whitespace_tokens, legacy_decode, legacy_encode

EN = ["The cat sat on the mat.", "Kelob lives in Morvik, a city of 12345 people.", "def f(x):\n    return x ** 2\n",
      "  Indented   text\twith\ttabs\n\n\nand blank lines  \n"]
ZH = ["Kelob 住在 Morvik。他最喜欢的颜色是红色。", "复旦大学的 MOSS 是一个对话模型，支持中文和英文。", "１２３ 全角数字，和 emoji 👋🏽！"]
TEXTS = (EN + ZH) * 20
NEEDS_GPT2 = pytest.mark.skipif(gpt2_ranks_path() is None,
                                reason="gpt2.tiktoken not cached: run `python scripts/fetch_gpt2_vocab.py`")


@pytest.fixture(scope="module")
def pair():
    scratch = train_tokenizer(TEXTS, 400, backend="scratch")
    return scratch, FastBPE(scratch.to_json())


@pytest.fixture(scope="module")
def gpt2():
    return load_gpt2()


@pytest.fixture(scope="module")
def extension():
    """A tokenizer trained on English only, and the same extended with 60 merges learned on Chinese."""
    english = train_tokenizer(EN * 30, 320)
    return english, extend_vocabulary(english, ZH * 30, 60)


def naive_merges(texts, n_merges, pattern):
    """The textbook trainer: recount every pair of every chunk before each merge (quadratic, obviously right)."""
    import regex

    words = Counter(tuple(chunk.encode()) for t in texts for chunk in regex.findall(pattern, t))
    merges = {}
    for new in range(256, 256 + n_merges):
        counts = Counter()
        for ids, f in words.items():
            for p in zip(ids, ids[1:]):
                counts[p] += f
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))  # the same tie rule: most frequent, then smallest pair
        merges[best] = new
        words = Counter({tuple(merge(list(ids), best, new)): f for ids, f in words.items()})
    return merges


def test_incremental_training_learns_exactly_the_naive_merges():
    texts = TEXTS + ["aaaa bbbbbb abababab      x"] * 5  # back-to-back matches are where local updates go wrong
    tok = ScratchBPE.train(texts, 256 + 120 + 6)
    assert tok.merges == naive_merges(texts, 120, tok.pattern)


def test_whitespace_runs_and_newlines_survive_where_moss_lost_them(pair):
    """MOSS bug #315: its added space-run tokens stripped neighbouring newlines, so decode(encode(x)) lost lines."""
    scratch, _ = pair
    added = codegen_whitespace_tokens(scratch.vocab_size)
    text = "a  \n  b"
    lost = legacy_encode(scratch, text, added)
    assert lost == [*scratch.encode("a"), added["  "], added["  "], *scratch.encode("b")]
    assert legacy_decode(scratch, lost, added) == "a    b"  # the newline is gone
    for tok in pair:
        for text in ["a  \n  b", "if x:\n        return\n\n    pass", " \n \n", "\t\t\n  \t", "\r\n \r\n"]:
            assert tok.decode(tok.encode(text)) == text


@NEEDS_GPT2
def test_legacy_split_reproduces_moss_ids_pattern(gpt2):
    """MOSS encoded "a  \\n  b" as [64, 106058, 106058, 65]: 'a', two 2-space tokens, 'b'. Same with GPT-2 + CodeGen."""
    added = codegen_whitespace_tokens(50257)
    assert legacy_encode(gpt2, "a  \n  b", added) == [64, added["  "], added["  "], 65]
    assert gpt2.decode(gpt2.encode("a  \n  b")) == "a  \n  b"


def test_special_tokens_are_atomic_and_only_when_allowed(pair):
    for tok in pair:
        eom = tok.special_tokens["<eom>"]
        assert eom not in tok.encode("user typed <eom> here")
        assert tok.decode(tok.encode("user typed <eom> here")) == "user typed <eom> here"
        assert tok.encode("a<eom>b", allowed_special="all").count(eom) == 1
        assert tok.encode("<eom><eoh>", allowed_special={"<eom>"}).count(tok.special_tokens["<eoh>"]) == 0
        assert "<|Human|>" not in tok.special_tokens  # role tags are plain text, as in MOSS
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
    with pytest.raises(ValueError, match="at least 262"):
        train_tokenizer(TEXTS, 100)


def test_save_load_fingerprint_and_bad_files(tmp_path, pair):
    scratch, fast = pair
    path = fast.save(tmp_path / "tok")
    assert path.name == "tokenizer.json"
    for backend in ("fast", "scratch"):
        loaded = load_tokenizer(tmp_path / "tok", backend=backend)
        assert loaded.encode(ZH[0]) == fast.encode(ZH[0])
        assert loaded.fingerprint() == fast.fingerprint() == scratch.fingerprint()
    assert train_tokenizer(TEXTS, 420).fingerprint() != fast.fingerprint()
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


@NEEDS_GPT2
def test_gpt2_parity_with_tiktoken(gpt2):
    import tiktoken

    theirs = tiktoken.Encoding(name="gpt2", pat_str=GPT2_PATTERN, mergeable_ranks=load_gpt2_ranks(),
                               special_tokens={"<|endoftext|>": 50256})
    text = "\n".join(EN + ZH) + " MOSS: moss-moon-003 <|endoftext|> 16,717,980,160 params!\n    indented\n\n"
    assert gpt2.vocab_size == 50257
    assert gpt2.encode(text) == theirs.encode(text, disallowed_special=())  # both: special text as plain text
    assert gpt2.encode("<|endoftext|>", allowed_special="all") == [50256]
    assert gpt2.encode("<|MOSS|>:") == [27, 91, 44, 18420, 91, 31175]  # MOSS's role tag, as moss_inference.py has it
    assert gpt2.decode(gpt2.encode(text)) == text


def test_gpt2_file_missing_and_fetch_offline_say_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="fetch_gpt2_vocab.py"):
        load_gpt2_ranks(tmp_path / "nope.tiktoken")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens there: "offline"
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_RETRIES", "0")
    with pytest.raises(ConnectionError, match="could not download openai-whisper"):
        fetch_gpt2_ranks(tmp_path / "gpt2.tiktoken")
    assert not (tmp_path / "gpt2.tiktoken").exists()


def test_extension_improves_chinese_and_keeps_english(extension):
    english, extended = extension
    assert extended.vocab_size == 380
    before, after = compression_table({"en": english, "en+zh": extended}, {"en": EN, "zh": ZH})
    assert after["zh"] > 1.5 * before["zh"] and after["en"] == before["en"]
    for text in EN:  # old merges unchanged: English encodes to the same ids
        assert extended.encode(text) == english.encode(text)
    assert vocabulary_share(extended)["Han"] > vocabulary_share(english)["Han"] == 0


def test_resize_keeps_known_rows_and_averages_pieces_for_new_ones(extension):
    english, extended = extension
    torch.manual_seed(0)
    model = build_model(get_config("toy", vocab_size=english.vocab_size))
    old_emb, old_head, old_bias = (t.detach().clone() for t in (model.tok_emb.weight, model.lm_head.weight,
                                                                 model.lm_head.bias))
    resize_vocabulary(model, english, extended)
    assert model.tok_emb.weight.shape == (380, 64) and model.lm_head.bias.shape == (380,)
    assert model.config.vocab_size == 380
    eom_old, eom_new = english.special_tokens["<eom>"], extended.special_tokens["<eom>"]
    assert torch.equal(model.tok_emb.weight[eom_new], old_emb[eom_old])  # a moved special token keeps its row
    assert torch.equal(model.lm_head.weight[100], old_head[100])  # an old token keeps its rows
    new_id = english.vocab_size - 6 + 10  # a token the extension added
    pieces = as_scratch(english).encode_bytes(extended.token_bytes(new_id))
    assert len(pieces) > 1 and row_sources(english, extended)[new_id] == pieces
    torch.testing.assert_close(model.tok_emb.weight[new_id], old_emb[pieces].mean(0))
    torch.testing.assert_close(model.lm_head.weight[new_id], old_head[pieces].mean(0))
    torch.testing.assert_close(model.lm_head.bias[new_id], old_bias[pieces].mean(0))
    assert model(torch.tensor([[new_id, eom_new]])).shape[-1] == 380  # the resized model runs


def test_resize_keeps_a_tied_head_tied_and_takes_attribute_names(extension):
    english, extended = extension

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = torch.nn.Embedding(english.vocab_size, 8)
            self.head = torch.nn.Linear(8, english.vocab_size, bias=False)
            self.head.weight = self.wte.weight

    model = resize_vocabulary(Tiny(), english, extended, embedding="wte", head="head")
    assert model.head.weight is model.wte.weight and model.wte.weight.shape == (380, 8)
    assert model.head.weight.device.type == "cpu"


def test_cli_train_extend_and_show(tmp_path, capsys):
    corpus, zh = tmp_path / "corpus.txt", tmp_path / "zh.txt"
    corpus.write_text("\n".join(EN * 20))
    zh.write_text("\n".join(ZH * 20))
    assert main(["tokenizer", "train", "--corpus", str(corpus), "--vocab-size", "300", "--out",
                 str(tmp_path / "tok"), "--backend", "scratch"]) == 0
    assert main(["tokenizer", "extend", "--tokenizer", str(tmp_path / "tok"), "--corpus", str(zh), "--added", "40",
                 "--out", str(tmp_path / "ext")]) == 0
    assert load_tokenizer(tmp_path / "ext").vocab_size == 340
    assert main(["tokenizer", "show", "复旦 MOSS<eom>", "--tokenizer", str(tmp_path / "ext")]) == 0
    out = capsys.readouterr().out
    assert "300-token scratch BPE" in out and "300 -> 340 tokens" in out and "12 characters ->" in out
    assert main(["tokenizer", "show", "x", "--tokenizer", str(tmp_path / "missing")]) == 2
    assert "no tokenizer at" in capsys.readouterr().err


def test_chars_per_token_counts_characters_not_bytes(pair):
    scratch, _ = pair
    assert chars_per_token(scratch, ["中文"]) == 2 / len(scratch.encode("中文"))
