"""Tokenizers: a from-scratch byte-level BPE (`ScratchBPE`) and the fast one on Hugging Face `tokenizers` (`FastBPE`),
one interface and one file format (`tokenizer.json`). The package knows nothing of the model.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal, Protocol

from mosslite.tokenizer.bpe import GPT2_PATTERN, MOSS_SPECIAL_TOKENS, MOSSLITE_PATTERN, ScratchBPE
from mosslite.tokenizer.fast import FastBPE, scratch_from_json

__all__ = ["GPT2_PATTERN", "MOSS_SPECIAL_TOKENS", "MOSSLITE_PATTERN", "FastBPE", "ScratchBPE", "Tokenizer",
           "load_tokenizer", "train_tokenizer"]


class Tokenizer(Protocol):
    """What both backends offer; data packing, the chat format and training code only rely on this."""

    special_tokens: dict[str, int]

    @property
    def vocab_size(self) -> int: ...
    def encode(self, text: str, allowed_special: set[str] | str = "none") -> list[int]: ...
    def decode(self, ids: Iterable[int]) -> str: ...
    def save(self, path: str | Path) -> Path: ...
    def fingerprint(self) -> str: ...


def train_tokenizer(texts: Iterable[str], vocab_size: int, special_tokens: Sequence[str] = MOSS_SPECIAL_TOKENS,
                    backend: Literal["fast", "scratch"] = "fast", pattern: str = MOSSLITE_PATTERN) -> Tokenizer:
    """Train a byte-level BPE with `vocab_size` entries in all (256 bytes + merges + the special tokens)."""
    if vocab_size < 256 + len(special_tokens):
        raise ValueError(f"vocab_size={vocab_size} leaves no room: 256 byte tokens and {len(special_tokens)} special "
                         f"tokens come first; ask for at least {256 + len(special_tokens)}")
    if backend == "fast":
        return FastBPE.train(texts, vocab_size, special_tokens, pattern)
    if backend == "scratch":
        return ScratchBPE.train(texts, vocab_size, special_tokens, pattern)
    raise ValueError(f"unknown tokenizer backend {backend!r}; use 'fast' or 'scratch'")


def load_tokenizer(path: str | Path, backend: Literal["fast", "scratch"] = "fast") -> Tokenizer:
    """A tokenizer saved by either path: a folder holding tokenizer.json, or the file itself; or a GPT-2-style
    Hugging Face folder (vocab.json + merges.txt, such as MOSS's own: `mosslite.tokenizer.moss`)."""
    path = Path(path)
    file = path / "tokenizer.json" if path.is_dir() else path
    if not file.is_file() and (path / "vocab.json").is_file() and (path / "merges.txt").is_file():
        from mosslite.tokenizer.moss import load_moss_tokenizer

        moss = load_moss_tokenizer(path)
        return moss if backend == "fast" else scratch_from_json(moss.to_json())
    if not file.is_file():
        raise FileNotFoundError(f"no tokenizer at {path} (expected a tokenizer.json file or a folder holding one, "
                                f"or a vocab.json + merges.txt folder such as MOSS's)")
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
        if doc.get("model", {}).get("type") != "BPE":
            raise ValueError("its model is not a byte-level BPE")
        return FastBPE(doc) if backend == "fast" else scratch_from_json(doc)
    except Exception as err:  # the Rust side raises plain Exceptions for a malformed file
        raise ValueError(f"{file} is not a usable tokenizer.json: {err}") from err
