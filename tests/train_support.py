"""Helpers for the training tests: a byte tokenizer and a small packed corpus from the bilingual world."""

from __future__ import annotations

from pathlib import Path

from mosslite.data.pack import pack
from mosslite.data.world import World, WorldConfig


class Bytes:
    """UTF-8 bytes as ids 0-255 plus an end-of-text token: a tokenizer with nothing to train."""

    vocab_size = 257
    special_tokens = {"<|endoftext|>": 256}

    def encode(self, text: str, allowed_special="none") -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: list[int]) -> str:
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")

    def fingerprint(self) -> str:
        return "bytes-257"


def pack_world(out_dir: Path) -> Path:
    """About 100k byte tokens of world text (English with a little Chinese), 10% of documents held out."""
    docs = (doc.text for doc in World(WorldConfig(n_entities=40, zh_share=0.05)).documents())
    pack(docs, Bytes(), out_dir, val_fraction=0.1, progress=False)
    return out_dir
