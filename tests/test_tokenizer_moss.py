"""MOSS's tokenizer files (vocab.json, merges.txt, added_tokens.json) load with MOSS's ids: a small folder in
exactly that layout gives the same ids as `transformers`' GPT2Tokenizer reading it, and round-trips every string."""

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mosslite.tokenizer import load_tokenizer
from mosslite.tokenizer.bpe import GPT2_PATTERN
from mosslite.tokenizer.fast import FastBPE
from mosslite.tokenizer.legacy import codegen_whitespace_tokens, legacy_encode
from mosslite.tokenizer.moss import load_moss_tokenizer, moss_whitespace_tokens

TEXTS = ["Hello world, this is MOSS. It's a test: 12+34=46!", "你好，世界！这是一个测试。我们在学习。",
         "The cat sat on the mat.\nMOSS 是 复旦大学 的 模型。", "def f(x):\n    return x * 2\n"] * 30
CHAT = ["<eoh>", "<eom>", "<eot>", "<eoc>", "<eor>"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A MOSS-layout folder: GPT-2-style BPE, `<|endoftext|>` last in vocab.json, then CodeGen's 38 whitespace
    runs and the 5 chat end tokens in added_tokens.json (MOSS: 106028, 106029-106066, 106067-106071)."""
    out = tmp_path_factory.mktemp("moss-tokenizer")
    model = FastBPE.train(TEXTS, 500, special_tokens=(), pattern=GPT2_PATTERN).to_json()["model"]
    vocab = dict(model["vocab"], **{"<|endoftext|>": len(model["vocab"])})
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    (out / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    added = codegen_whitespace_tokens(len(vocab)) | {t: len(vocab) + 38 + i for i, t in enumerate(CHAT)}
    (out / "added_tokens.json").write_text(json.dumps(added), encoding="utf-8")
    return out


def test_ids_follow_the_files_and_chat_tokens_are_special(folder):
    tok = load_moss_tokenizer(folder)
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    assert tok.vocab_size == len(vocab) + 38 + 5
    assert tok.special_tokens == {"<|endoftext|>": len(vocab) - 1} | {t: len(vocab) + 38 + i for i, t in
                                                                      enumerate(CHAT)}
    assert tok.encode("<eom>") != [tok.special_tokens["<eom>"]]  # typed by a user, it stays text
    assert tok.encode("Hi<eom>", allowed_special="all")[-1] == tok.special_tokens["<eom>"]
    runs = moss_whitespace_tokens(folder)
    assert len(runs) == 38 and tok.decode([runs["    "]]) == "    "  # decodable, never produced


def test_ids_match_transformers_reading_the_same_folder(folder):
    from transformers import GPT2Tokenizer

    reference = GPT2Tokenizer.from_pretrained(str(folder))
    tok = load_moss_tokenizer(folder)
    for text in ["Hello world, this is MOSS.", "你好，世界！MOSS 是 模型。", "It's 12+34=46!\nNew line.",
                 "<|Human|>: 你好<eoh>\n<|MOSS|>: Hello!<eom>\n", "emoji 🙂 and ünïcödé <|endoftext|>"]:
        assert tok.encode(text, allowed_special="all") == reference.encode(text), text


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(list("abc xyz,.!?\n\t你好世界的是12🙂") + ["MOSS", "<eom>", "   "]), max_size=30))
def test_every_string_round_trips(folder, pieces):
    text = "".join(pieces)
    tok = load_moss_tokenizer(folder)
    assert tok.decode(tok.encode(text, allowed_special="all")) == text


def test_moss_own_whitespace_split_is_available_for_comparison(folder):
    tok = load_moss_tokenizer(folder)
    runs = moss_whitespace_tokens(folder)
    legacy = legacy_encode(tok, "a  \n  b", runs)
    assert legacy == tok.encode("a") + [runs["  "], runs["  "]] + tok.encode("b")  # MOSS #315: the newline is lost
    assert tok.decode(tok.encode("a  \n  b")) == "a  \n  b"  # mosslite's own encoding keeps it


def test_load_tokenizer_and_the_import_command_read_the_folder(folder, tmp_path):
    assert load_tokenizer(folder).encode("你好 MOSS") == load_moss_tokenizer(folder).encode("你好 MOSS")
    assert load_tokenizer(folder, backend="scratch").encode("你好 MOSS") == load_moss_tokenizer(folder).encode(
        "你好 MOSS")
    done = subprocess.run([sys.executable, "-m", "mosslite.cli", "tokenizer", "import", str(folder), "--out",
                           str(tmp_path / "tok")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    saved = load_tokenizer(tmp_path / "tok")
    assert saved.encode("Hi<eom>", allowed_special="all") == load_moss_tokenizer(folder).encode("Hi<eom>", "all")
    assert saved.decode([moss_whitespace_tokens(folder)["\t\t"]]) == "\t\t"


def test_broken_folders_are_refused_naming_the_file(folder, tmp_path):
    with pytest.raises(FileNotFoundError, match="merges.txt"):
        (tmp_path / "vocab.json").write_text("{}")
        load_moss_tokenizer(tmp_path)
    (tmp_path / "merges.txt").write_text("#version: 0.2\na b c\n")
    with pytest.raises(ValueError, match="merges.txt, line 2"):
        load_moss_tokenizer(tmp_path)
    (tmp_path / "merges.txt").write_text("")
    (tmp_path / "vocab.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="vocab.json should map"):
        load_moss_tokenizer(tmp_path)
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text((folder / "merges.txt").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "added_tokens.json").write_text(json.dumps({"<eom>": 5}))
    with pytest.raises(ValueError, match="ids already used in vocab.json"):
        load_moss_tokenizer(tmp_path)
