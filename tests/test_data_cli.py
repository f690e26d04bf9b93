"""`mosslite data …` is a thin layer over the library: world, sources, clean and pack end to end."""

import json
import sys
import types

import pytest

from mosslite.cli import main
from mosslite.data.dirty_pages import PAGES
from mosslite.data.pack import ByteTokenizer, PackedTokens


@pytest.fixture
def tokenizer_dir(tmp_path, monkeypatch):
    """A saved tokenizer: the project's own when it exists, else the byte stand-in behind a fake module."""
    try:
        from mosslite.tokenizer import train_tokenizer
    except ImportError:
        fake = types.ModuleType("mosslite.tokenizer")
        fake.load_tokenizer = lambda path: ByteTokenizer()
        monkeypatch.setitem(sys.modules, "mosslite.tokenizer", fake)
        return tmp_path / "tok"
    tok = train_tokenizer([PAGES["en_news"], PAGES["zh_news"], "Kelob lives in Morvik."], vocab_size=300)
    tok.save(tmp_path / "tok")
    return tmp_path / "tok"


def test_world_writes_everything(tmp_path, capsys):
    out = tmp_path / "world"
    assert main(["data", "world", "--out", str(out), "--n-entities", "12", "--docs-per-fact", "2", "--dialogues", "12",
                 "--zh-share", "0.05", "--kinds", "person,city", "--no-zh-code-switch"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert abs(stats["zh_share"] - 0.05) < 0.02
    assert json.loads((out / "world.json").read_text())["config"]["zh_code_switch"] is False
    assert "Chinese" in capsys.readouterr().out


def test_bad_knob_is_a_clean_error(tmp_path, capsys):
    assert main(["data", "world", "--out", str(tmp_path), "--zh-share", "0.9"]) == 2
    assert "zh_share" in capsys.readouterr().err


def test_sources_and_clean(tmp_path, capsys):
    assert main(["data", "sources"]) == 0
    assert "peoples_daily" in capsys.readouterr().out
    pages = tmp_path / "pages.jsonl"
    pages.write_text("".join(json.dumps({"body": p}, ensure_ascii=False) + "\n" for p in PAGES.values()))
    assert main(["data", "clean", "--corpus", str(pages), "--text-field", "body", "--out", str(tmp_path / "c.jsonl")]) == 0
    assert "| **kept** | 3 of 8 |" in capsys.readouterr().out
    assert len((tmp_path / "c.jsonl").read_text().splitlines()) == 3


def test_pack_a_mixture(tmp_path, tokenizer_dir, capsys):
    out = tmp_path / "packed"
    english = tmp_path / "en.txt"
    english.write_text(PAGES["en_news"])
    assert main(["data", "pack", "--corpus", "world:n_entities=10,docs_per_fact=3,zh_share=0=0.9",
                 "--corpus", f"{english}=0.1", "--tokenizer", str(tokenizer_dir), "--out", str(out),
                 "--val-fraction", "0.1", "--total-units", "5000"]) == 0
    printed = capsys.readouterr().out
    assert "| world:n_entities=10,docs_per_fact=3,zh_share=0 |" in printed and "[pack]" in printed
    meta = json.loads((out / "meta.json").read_text())
    assert [s["source"] for s in meta["sources"]] == ["world:n_entities=10,docs_per_fact=3,zh_share=0", str(english)]
    assert len(PackedTokens(out / "train.bin")) == meta["splits"]["train"]["tokens"] > 0
