"""Packing: exact round trip, deterministic split, streaming in chunks, parallel = serial, and every kind of
damaged or mismatched array is refused with a message naming the file."""

import json

import numpy as np
import pytest
import torch

from mosslite.data.pack import ByteTokenizer, PackedTokens, in_val, pack
from mosslite.data.world import World, WorldConfig


class Renamed(ByteTokenizer):
    """The byte tokenizer under another name: data packed with it must not be read as ByteTokenizer's."""

    def fingerprint(self) -> str:
        return "someone-else"


class Wide(ByteTokenizer):
    vocab_size = 70_000  # too many ids for uint16


def real_or_stand_in():
    """The project's tokenizer once it exists (trained on a little world text), else the byte stand-in."""
    try:
        from mosslite.tokenizer import train_tokenizer
    except ImportError:
        return ByteTokenizer()
    texts = [d.text for d in World(WorldConfig(n_entities=20, docs_per_fact=2)).documents()]
    return train_tokenizer(texts, vocab_size=400)


DOCS = [f"document {i}: " + "héllo 你好 " * (i % 7 + 1) for i in range(300)]


@pytest.fixture
def packed(tmp_path):
    meta = pack(DOCS, ByteTokenizer(), tmp_path, val_fraction=0.1, chunk_chars=500, progress=False)
    return tmp_path, meta


def test_round_trip_and_split_are_exact(packed):
    out, meta = packed
    tok = ByteTokenizer()
    train, val = PackedTokens(out / "train.bin", tok), PackedTokens(out / "val.bin", tok)
    expected = {False: [], True: []}
    for doc in DOCS:
        expected[in_val(doc, 0.1, 0)] += tok.encode(doc) + [256]
    assert np.array_equal(np.asarray(train.tokens), expected[False])
    assert np.array_equal(np.asarray(val.tokens), expected[True])
    assert 10 < meta["splits"]["val"]["documents"] < 60  # about 10 % of 300
    assert meta["splits"]["train"]["documents"] + meta["splits"]["val"]["documents"] == len(DOCS)
    assert meta["dtype"] == "uint16" and meta["tokenizer_fingerprint"] == "utf8-bytes-v1"
    assert meta["bytes_in"] == sum(len(d.encode()) for d in DOCS)


def test_duplicates_never_straddle_the_split(tmp_path):
    docs = [f"text number {i % 50}" for i in range(400)]  # every text eight times
    pack(docs, ByteTokenizer(), tmp_path, val_fraction=0.3, progress=False)

    def texts(split: str) -> list[str]:
        out, current = [], []
        for i in np.asarray(PackedTokens(tmp_path / f"{split}.bin").tokens).tolist():
            if i == 256:
                out.append(bytes(current).decode())
                current = []
            else:
                current.append(i)
        return out

    train, val = texts("train"), texts("val")
    assert len(train) + len(val) == 400 and val and train
    assert not set(train) & set(val)  # all eight copies of a text went the same way


def test_parallel_equals_serial(tmp_path):
    a = pack(DOCS, ByteTokenizer(), tmp_path / "a", val_fraction=0.1, chunk_chars=300, progress=False)
    b = pack(DOCS, ByteTokenizer(), tmp_path / "b", val_fraction=0.1, chunk_chars=300, workers=2, progress=False)
    assert a["splits"] == b["splits"]  # same counts and the same sha256 of both arrays
    assert (tmp_path / "a" / "train.bin").read_bytes() == (tmp_path / "b" / "train.bin").read_bytes()


def test_streams_a_generator_in_chunks(tmp_path):
    """Documents arrive from a generator and are never all in memory: pack only ever holds one chunk."""
    seen = []

    def docs():
        for i in range(2000):
            seen.append(i)
            yield f"streamed document {i} " * 5

    meta = pack(docs(), ByteTokenizer(), tmp_path, val_fraction=0.05, chunk_chars=10_000, progress=False)
    assert len(seen) == 2000 and meta["splits"]["train"]["documents"] + meta["splits"]["val"]["documents"] == 2000


def test_random_and_sequential_batches(packed):
    out, _ = packed
    data = PackedTokens(out / "train.bin")
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    x, y = data.batch(4, 16, g1)
    x2, _ = data.batch(4, 16, g2)
    assert x.shape == y.shape == (4, 16) and x.dtype == torch.long
    assert torch.equal(x, x2) and torch.equal(x[:, 1:], y[:, :-1])
    windows = list(data.iter_batches(3, 16))
    flat = torch.cat([w[0] for w in windows]).flatten()
    assert torch.equal(flat, torch.from_numpy(np.asarray(data.tokens[: len(flat)]).astype(np.int64)))
    assert all(xb.shape[1] == 16 for xb, _ in windows)


def test_large_vocabularies_use_uint32(tmp_path):
    meta = pack(DOCS[:20], Wide(), tmp_path, val_fraction=0.0, progress=False)
    assert meta["dtype"] == "uint32" and (tmp_path / "train.bin").stat().st_size == 4 * meta["splits"]["train"]["tokens"]


def test_damage_and_mismatches_are_refused(packed):
    out, meta = packed
    with pytest.raises(ValueError, match="packed with tokenizer utf8-bytes-v1"):
        PackedTokens(out / "train.bin", Renamed())
    data = (out / "train.bin").read_bytes()
    (out / "train.bin").write_bytes(data[:-6])
    with pytest.raises(ValueError, match="truncated"):
        PackedTokens(out / "train.bin")
    (out / "train.bin").write_bytes(data)
    bad = json.loads((out / "meta.json").read_text())
    bad["vocab_size"] = 100_000  # ids of a 100k vocabulary cannot be uint16
    (out / "meta.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="cannot hold"):
        PackedTokens(out / "train.bin")
    bad["vocab_size"], bad["dtype"] = 257, "uint32"  # same bytes read with the wrong width: size no longer fits
    (out / "meta.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="truncated or from another run"):
        PackedTokens(out / "train.bin")
    (out / "meta.json").write_text(json.dumps(meta))
    corrupt = bytearray(data)
    corrupt[100:102] = (60_000).to_bytes(2, "little")  # an id past the vocabulary
    (out / "train.bin").write_bytes(bytes(corrupt))
    with pytest.raises(ValueError, match="corrupt"):
        PackedTokens(out / "train.bin")
    corrupt[100:102] = data[102:104]  # a valid id in the wrong place: only the checksum sees it
    (out / "train.bin").write_bytes(bytes(corrupt))
    PackedTokens(out / "train.bin")
    with pytest.raises(ValueError, match="sha256"):
        PackedTokens(out / "train.bin", verify=True)
    with pytest.raises(ValueError, match="not enough for one window"):
        PackedTokens(out / "val.bin").batch(2, 10_000)


def test_a_failed_pack_leaves_the_old_files(packed):
    out, meta = packed
    before = (out / "train.bin").read_bytes()

    def broken():
        yield "fine"
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        pack(broken(), ByteTokenizer(), out, progress=False)
    assert (out / "train.bin").read_bytes() == before and not list(out.glob(".*.tmp"))
    PackedTokens(out / "train.bin")


def test_world_text_through_the_real_tokenizer(tmp_path):
    """The world packs and decodes back to its own text with whichever tokenizer the project has."""
    tok = real_or_stand_in()
    docs = [d.text for d in World(WorldConfig(n_entities=20, docs_per_fact=2, zh_share=0.05)).documents()]
    meta = pack(docs, tok, tmp_path, val_fraction=0.0, progress=False)
    ids = np.asarray(PackedTokens(tmp_path / "train.bin", tok).tokens).tolist()
    sep = meta["separator_id"]
    first = ids[: ids.index(sep)]
    assert tok.decode(first) == docs[0]


def test_byte_tokenizer_round_trips_and_never_makes_a_separator():
    tok = ByteTokenizer()
    text = "Kelob住在Morvik。<|endoftext|> é"
    ids = tok.encode(text)
    assert tok.decode(ids) == text and 256 not in ids and len(tok.encode("住")) == 3
