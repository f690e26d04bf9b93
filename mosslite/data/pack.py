"""Tokenise a corpus once and pack it into flat token arrays that training reads by memory map.

    pack(documents, tokenizer, out_dir)  ->  out_dir/train.bin, val.bin, meta.json

Each document is encoded and followed by the tokenizer's end-of-text token, and the ids are appended to train.bin
or val.bin (uint16 when the vocabulary fits, else uint32). Which split a document lands in depends only on its text
and the seed (a keyed hash), so the split is the same however the corpus is chunked or parallelised, and a
duplicated document can never sit on both sides. Documents stream through in chunks: a corpus larger than memory
packs fine. meta.json records the tokenizer's fingerprint, the sources, counts, dtype and sha256 of each array.

    data = PackedTokens("out_dir/train.bin")        # checks size, dtype and (optionally) the tokenizer
    x, y = data.batch(8, 256, generator)            # random windows, LongTensors [8, 256]; y is x shifted by one
    for x, y in data.iter_batches(8, 256): ...      # every window in order, for evaluation

The tokenizer is any object with `vocab_size`, `special_tokens` (name -> id), `encode(text)` and `fingerprint()`:
chapter 2's BPE, or `ByteTokenizer` below, which needs no training.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from mosslite.fileio import atomic_write

FORMAT = "mosslite.packed/1"
SEPARATORS = ("<|endoftext|>", "<eos>", "</s>", "<eod>")  # tried in this order when none is named


class TokenizerLike(Protocol):
    vocab_size: int
    special_tokens: dict[str, int]

    def encode(self, text: str, allowed_special="none") -> list[int]: ...

    def fingerprint(self) -> str: ...


class ByteTokenizer:
    """UTF-8 bytes as tokens, plus <|endoftext|> (257 ids). It needs no training, so text can be packed before a
    BPE exists, and it is the baseline BPE improves on: a Chinese character costs three tokens here."""

    vocab_size = 257
    special_tokens = {"<|endoftext|>": 256}

    def encode(self, text: str, allowed_special="none") -> list[int]:
        return list(text.encode("utf-8"))  # typed special-token text stays bytes: it can never end a document

    def decode(self, ids: Iterable[int]) -> str:
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")

    def fingerprint(self) -> str:
        return "utf8-bytes-v1"


class ChatLogTokenizer:
    """A tokenizer that turns the chat format's end tokens (<eoh> … <eom>) written in pretraining text into their
    special ids, so a chat log on a web page reads exactly like a live chat (and SFT); every other special stays text."""

    def __init__(self, tokenizer: TokenizerLike) -> None:
        from mosslite.chat import END_TOKENS  # lazy: packing needs the chat module only here

        self.inner, self.allowed = tokenizer, set(END_TOKENS.values())
        self.vocab_size, self.special_tokens = tokenizer.vocab_size, tokenizer.special_tokens

    def encode(self, text: str, allowed_special="none") -> list[int]:
        return self.inner.encode(text, allowed_special=self.allowed)

    def fingerprint(self) -> str:
        return self.inner.fingerprint()


def dtype_for(vocab_size: int) -> np.dtype:
    """uint16 when every id fits (vocabulary of at most 65,535), else uint32: half the disk and RAM for small ones."""
    return np.dtype(np.uint16 if vocab_size <= 65_535 else np.uint32)


def in_val(text: str, val_fraction: float, seed: int, data: bytes | None = None) -> bool:
    """Whether a document goes to the validation split: a keyed hash of its text, so equal texts agree."""
    if val_fraction == 0:
        return False
    digest = hashlib.blake2b(data or text.encode("utf-8"), digest_size=8, key=str(seed).encode()).digest()
    return int.from_bytes(digest, "little") / 2**64 < val_fraction


# ------------------------------------------------------------------------------------- tokenising workers
_worker: dict = {}


def _init_worker(tokenizer: TokenizerLike, separator_id: int, dtype: str, val_fraction: float, seed: int) -> None:
    _worker.update(tokenizer=tokenizer, sep=separator_id, dtype=np.dtype(dtype), val=val_fraction, seed=seed)


def _encode_chunk(texts: list[str]) -> tuple[np.ndarray, np.ndarray, int, int, int, int]:
    """(train ids, val ids, train documents, val documents, largest id, UTF-8 bytes read) for one chunk."""
    tok, sep = _worker["tokenizer"], _worker["sep"]
    parts: dict[bool, list[list[int]]] = {False: [], True: []}
    n_bytes = 0
    for text in texts:
        data = text.encode("utf-8")
        n_bytes += len(data)
        parts[in_val(text, _worker["val"], _worker["seed"], data)].append(tok.encode(text) + [sep])
    arrays = []
    for split in (False, True):
        total = sum(map(len, parts[split]))
        arrays.append(np.fromiter(itertools.chain.from_iterable(parts[split]), dtype=np.int64, count=total))
    top = max((int(a.max()) for a in arrays if len(a)), default=0)
    if top < np.iinfo(_worker["dtype"]).max + 1:  # out-of-range ids are reported by the caller, never wrapped
        arrays = [a.astype(_worker["dtype"]) for a in arrays]
    return arrays[0], arrays[1], len(parts[False]), len(parts[True]), top, n_bytes


def _chunks(documents: Iterable[str], chars: int) -> Iterator[list[str]]:
    chunk, size = [], 0
    for text in documents:
        chunk.append(text)
        size += len(text)
        if size >= chars:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


# ----------------------------------------------------------------------------------------------- packing
def pack(documents: Iterable[str], tokenizer: TokenizerLike, out_dir: str | Path, val_fraction: float = 0.01,
         seed: int = 0, sources: list[dict] | None = None, separator: str | None = None, workers: int = 0,
         chunk_chars: int = 1 << 20, progress: bool = True) -> dict:
    """Tokenise `documents` into out_dir/{train,val}.bin and write meta.json; returns the meta. `workers` > 1
    tokenises chunks of about `chunk_chars` characters in that many processes (order is kept), 0 or 1 in this
    one. Files are written under temporary names and moved into place only when everything succeeded."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction={val_fraction}: must be in [0, 1)")
    separator, separator_id = _separator(tokenizer, separator)
    dtype = dtype_for(tokenizer.vocab_size)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = {s: out / f".{s}.bin.tmp" for s in ("train", "val")}
    hashes = {s: hashlib.sha256() for s in tmp}
    tokens = {s: 0 for s in tmp}
    docs = {s: 0 for s in tmp}
    bytes_in = 0
    bar = _progress_bar(progress)
    start = time.perf_counter()
    init = (tokenizer, separator_id, dtype.str, val_fraction, seed)
    pool = multiprocessing.get_context().Pool(workers, _init_worker, init) if workers > 1 else None
    try:
        _init_worker(*init)
        with tmp["train"].open("wb") as train_file, tmp["val"].open("wb") as val_file:
            files = {"train": train_file, "val": val_file}
            chunks = _chunks(documents, chunk_chars)
            results = pool.imap(_encode_chunk, chunks) if pool else map(_encode_chunk, chunks)
            for train_ids, val_ids, n_train, n_val, top, n_bytes in results:
                if top >= tokenizer.vocab_size:
                    raise ValueError(f"the tokenizer produced id {top}, outside its vocab_size "
                                     f"{tokenizer.vocab_size}: its vocab_size is wrong")
                for split, ids, n in (("train", train_ids, n_train), ("val", val_ids, n_val)):
                    data = ids.tobytes()
                    files[split].write(data)
                    hashes[split].update(data)
                    tokens[split] += len(ids)
                    docs[split] += n
                bytes_in += n_bytes
                bar.update(len(train_ids) + len(val_ids))
        if tokens["train"] == 0:
            raise ValueError("no documents reached train.bin: the corpus is empty (or val_fraction is too high)")
        meta = {
            "format": FORMAT, "tokenizer_fingerprint": tokenizer.fingerprint(), "vocab_size": tokenizer.vocab_size,
            "dtype": dtype.name, "separator": separator, "separator_id": separator_id,
            "val_fraction": val_fraction, "seed": seed, "tokens": tokens["train"] + tokens["val"], "bytes_in": bytes_in,
            "splits": {s: {"file": f"{s}.bin", "tokens": tokens[s], "documents": docs[s],
                           "sha256": hashes[s].hexdigest()} for s in tmp},
            "sources": sources or [], "seconds": round(time.perf_counter() - start, 3),
        }
        # Without its meta.json a half-replaced folder cannot be mistaken for a complete one.
        (out / "meta.json").unlink(missing_ok=True)
        for split, path in tmp.items():
            os.replace(path, out / f"{split}.bin")
        atomic_write(out / "meta.json", lambda p: p.write_text(json.dumps(meta, indent=1, ensure_ascii=False)))
        return meta
    finally:
        bar.close()
        if pool:
            pool.terminate()
        for path in tmp.values():
            if path.exists():
                path.unlink()


def _separator(tokenizer: TokenizerLike, name: str | None) -> tuple[str, int]:
    specials = tokenizer.special_tokens
    if name is not None:
        if name not in specials:
            raise ValueError(f"separator {name!r} is not a special token of this tokenizer ({', '.join(specials)})")
        return name, specials[name]
    for candidate in SEPARATORS:
        if candidate in specials:
            return candidate, specials[candidate]
    raise ValueError(f"the tokenizer has no end-of-text token ({', '.join(SEPARATORS)}); name one with separator=")


def _progress_bar(enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(desc="packing", unit=" tok", unit_scale=True, disable=not enabled)


# ------------------------------------------------------------------------------------------------ reading
class PackedTokens:
    """One split of a packed corpus (train.bin or val.bin), memory-mapped and checked against its meta.json.

    Raises ValueError naming the file when the array is truncated or padded, its dtype cannot hold the
    vocabulary, an id is out of range, or (given `tokenizer`) the data was packed with another tokenizer.
    `verify=True` also recomputes the sha256 of the whole file."""

    def __init__(self, path: str | Path, tokenizer: TokenizerLike | None = None, verify: bool = False) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise ValueError(f"{self.path} is a folder; pass one split file, e.g. {self.path / 'train.bin'}")
        meta_path = self.path.with_name("meta.json")
        if not meta_path.is_file():
            raise FileNotFoundError(f"{meta_path} is missing: {self.path.name} needs the meta.json written beside it "
                                    f"by mosslite.data.pack")
        self.meta = json.loads(meta_path.read_text())
        split = self.meta.get("splits", {}).get(self.path.stem)
        if self.meta.get("format") != FORMAT or split is None:
            raise ValueError(f"{meta_path} does not describe {self.path.name} in the {FORMAT} format; re-pack the data")
        self.dtype = np.dtype(self.meta["dtype"])
        vocab = int(self.meta["vocab_size"])
        if self.dtype != dtype_for(vocab) and self.dtype.itemsize < 4:
            raise ValueError(f"{meta_path}: dtype {self.dtype} cannot hold ids of a {vocab}-token vocabulary")
        size, expected = self.path.stat().st_size, split["tokens"] * self.dtype.itemsize
        if size != expected:
            raise ValueError(f"{self.path} has {size:,} bytes but meta.json promises {split['tokens']:,} {self.dtype} "
                             f"tokens ({expected:,} bytes): the file is truncated or from another run; re-pack it")
        if tokenizer is not None and tokenizer.fingerprint() != self.meta["tokenizer_fingerprint"]:
            raise ValueError(f"{self.path} was packed with tokenizer {self.meta['tokenizer_fingerprint']}, not the one "
                             f"given ({tokenizer.fingerprint()}); re-pack with this tokenizer or load the other one")
        self.tokens = np.memmap(self.path, dtype=self.dtype, mode="r", shape=(split["tokens"],))
        self._check_ids(vocab, verify, split["sha256"])

    def _check_ids(self, vocab: int, verify: bool, sha256: str) -> None:
        """Ids past the vocabulary mean the bytes are not what meta.json says; a full pass also checks the hash."""
        spans = [(0, len(self))] if verify else [(0, 1 << 16), (max(0, len(self) - (1 << 16)), len(self))]
        digest = hashlib.sha256()
        for lo, hi in spans:
            for start in range(lo, hi, 1 << 22):
                block = np.asarray(self.tokens[start : min(hi, start + (1 << 22))])
                if len(block) and int(block.max()) >= vocab:
                    raise ValueError(f"{self.path}: token id {int(block.max())} ≥ vocab_size {vocab} near position "
                                     f"{start}: the file is corrupt or its dtype is wrong; re-pack it")
                if verify:
                    digest.update(block.tobytes())
        if verify and digest.hexdigest() != sha256:
            raise ValueError(f"{self.path}: sha256 differs from meta.json: the file changed after packing; re-pack it")

    def __len__(self) -> int:
        return len(self.tokens)

    def _windows(self, starts: np.ndarray, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = starts[:, None] + np.arange(block_size + 1)  # one gather from the memory map for the whole batch
        windows = torch.from_numpy(self.tokens[idx].astype(np.int64))
        return windows[:, :-1], windows[:, 1:]

    def _need(self, block_size: int) -> None:
        if len(self) <= block_size:
            raise ValueError(f"{self.path} holds {len(self)} tokens, not enough for one window of {block_size} + 1; "
                             f"pack more text, lower val_fraction, or use a smaller block_size")

    def batch(self, batch_size: int, block_size: int,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """`batch_size` windows at random offsets drawn from `generator`: x [B, T] and y = x shifted by one."""
        self._need(block_size)
        starts = torch.randint(len(self) - block_size, (batch_size,), generator=generator).numpy()
        return self._windows(starts, block_size)

    def iter_batches(self, batch_size: int, block_size: int,
                     drop_last: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Consecutive non-overlapping windows from the start, `batch_size` at a time: the same every call."""
        self._need(block_size)
        starts = np.arange(0, len(self) - block_size, block_size)
        for i in range(0, len(starts), batch_size):
            chunk = starts[i : i + batch_size]
            if drop_last and len(chunk) < batch_size:
                return
            yield self._windows(chunk, block_size)
