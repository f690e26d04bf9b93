"""The fast path: the same byte-level BPE on Hugging Face `tokenizers` (Rust), behind the same interface.

Both paths read and write one file, `tokenizer.json`, in Hugging Face's layout, so a tokenizer trained here also loads
in `tokenizers` and `transformers`. Given the same merges the two paths produce identical ids (a property test
checks it). Special tokens are handled in Python around the Rust encoder, so ordinary text can never produce them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from mosslite.fileio import atomic_write
from mosslite.tokenizer.bpe import (
    MOSS_SPECIAL_TOKENS,
    MOSSLITE_PATTERN,
    ScratchBPE,
    resolve_allowed,
    special_token_split,
)


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's map from each byte to a printable character, so byte-level tokens can be stored as JSON strings."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


@lru_cache(maxsize=1)
def unicode_to_bytes() -> dict[str, int]:
    """The inverse of `bytes_to_unicode`: a printable stand-in character back to its byte."""
    return {c: b for b, c in bytes_to_unicode().items()}


def _to_str(token: bytes) -> str:
    table = bytes_to_unicode()
    return "".join(table[b] for b in token)


def _to_bytes(text: str) -> bytes:
    inverse = unicode_to_bytes()
    return bytes(inverse[c] for c in text)


def byte_level_pre_tokenizer(pattern: str):
    """The regex pre-split, then GPT-2's byte-to-character map: how every tokenizer here cuts text before BPE."""
    return pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])


def hf_tokenizer_json(tok: ScratchBPE) -> dict:
    """`tok` as a Hugging Face tokenizer.json document (BPE model, regex split + byte-level, special tokens)."""
    specials = set(tok.special_tokens.values())
    vocab = {_to_str(b): i for i, b in tok.vocab.items() if i not in specials}
    merges = [(_to_str(tok.vocab[a]), _to_str(tok.vocab[b])) for (a, b), _ in sorted(tok.merges.items(),
                                                                                     key=lambda m: m[1])]
    hf = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    hf.pre_tokenizer = byte_level_pre_tokenizer(tok.pattern)
    hf.decoder = decoders.ByteLevel()
    doc = json.loads(hf.to_str())
    doc["added_tokens"] = added_token_entries(tok.special_tokens)
    return doc


def added_token_entries(tokens: dict[str, int], special: set[str] | None = None) -> list[dict]:
    """tokenizer.json's `added_tokens` list, by id: every token special unless `special` names the ones that are
    (the others are kept for decoding only: FastBPE never produces them from text)."""
    return [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
             "special": special is None or t in special} for t, i in sorted(tokens.items(), key=lambda s: s[1])]


def save_tokenizer_json(doc: dict, path: str | Path) -> Path:
    """Write to `path` (a folder gets `tokenizer.json` inside), atomically; returns the file's path."""
    path = Path(path)
    if path.suffix != ".json":
        path = path / "tokenizer.json"
    text = json.dumps(doc, ensure_ascii=False, indent=1)
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return path


def scratch_from_json(doc: dict) -> ScratchBPE:
    """Rebuild the pure-Python tokenizer from a tokenizer.json document (either path's)."""
    model = doc["model"]
    vocab = {i: _to_bytes(s) for s, i in model["vocab"].items()}
    ids = {b: i for i, b in vocab.items()}
    byte_ids = [ids[bytes([b])] for b in range(256)]
    merges = {}
    for entry in model["merges"]:
        a, b = entry.split(" ") if isinstance(entry, str) else entry
        merges[(ids[_to_bytes(a)], ids[_to_bytes(b)])] = ids[_to_bytes(a) + _to_bytes(b)]
    specials = {t["content"]: t["id"] for t in doc.get("added_tokens", []) if t.get("special")}
    vocab.update({t["id"]: t["content"].encode("utf-8") for t in doc.get("added_tokens", [])})  # decodable
    split = doc["pre_tokenizer"]["pretokenizers"][0]
    return ScratchBPE(merges, byte_ids, specials, split["pattern"]["Regex"], vocab=vocab)


class FastBPE:
    """The Rust encoder for ordinary text, Python around it for special tokens; decoding reads the vocabulary."""

    def __init__(self, doc: dict) -> None:
        self._doc = doc
        self.special_tokens = {t["content"]: t["id"] for t in doc.get("added_tokens", []) if t.get("special")}
        plain = dict(doc, added_tokens=[])  # without them the Rust side never matches a special token in text
        self._hf = Tokenizer.from_str(json.dumps(plain))
        self.vocab = {i: _to_bytes(s) for s, i in doc["model"]["vocab"].items()}
        self.vocab.update({t["id"]: t["content"].encode("utf-8") for t in doc.get("added_tokens", [])})
        self.pattern = doc["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"]

    @property
    def vocab_size(self) -> int:
        return max(self.vocab) + 1

    def encode_ordinary(self, text: str) -> list[int]:
        return self._hf.encode(text, add_special_tokens=False).ids if text else []

    def encode(self, text: str, allowed_special: set[str] | str = "none") -> list[int]:
        out: list[int] = []
        for piece, special in special_token_split(text, resolve_allowed(allowed_special, self.special_tokens)):
            out += [self.special_tokens[piece]] if special else self.encode_ordinary(piece)
        return out

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Ordinary text only (no special tokens), encoded in parallel by the Rust side."""
        return [e.ids for e in self._hf.encode_batch(list(texts), add_special_tokens=False)]

    # Both read only `self.vocab` (id -> bytes), which this class keeps exactly as the scratch encoder does.
    decode = ScratchBPE.decode
    token_bytes = ScratchBPE.token_bytes

    def to_json(self) -> dict:
        return self._doc

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self._doc, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def save(self, path: str | Path) -> Path:
        return save_tokenizer_json(self._doc, path)

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int, special_tokens: Sequence[str] = MOSS_SPECIAL_TOKENS,
              pattern: str = MOSSLITE_PATTERN) -> FastBPE:
        """Train with the Rust trainer, then renumber: bytes first, merges in order, special tokens last — the same
        id layout as the scratch path, so the two are interchangeable."""
        hf = Tokenizer(models.BPE())
        hf.pre_tokenizer = byte_level_pre_tokenizer(pattern)
        trainer = trainers.BpeTrainer(vocab_size=vocab_size - len(special_tokens), show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
        hf.train_from_iterator(texts, trainer)
        merges_text = json.loads(hf.to_str())["model"]["merges"]
        byte_ids = list(range(256))
        vocab = {i: bytes([i]) for i in range(256)}
        ids = {bytes([i]): i for i in range(256)}
        merges = {}
        for entry in merges_text:
            a, b = (entry.split(" ") if isinstance(entry, str) else entry)
            left, right = _to_bytes(a), _to_bytes(b)
            new = len(vocab)
            vocab[new] = left + right
            ids[left + right] = new
            merges[(ids[left], ids[right])] = new
        specials = {t: len(vocab) + i for i, t in enumerate(special_tokens)}
        return cls(hf_tokenizer_json(ScratchBPE(merges, byte_ids, specials, pattern, vocab=vocab)))
