"""Byte-level BPE from scratch, in the three steps the chapter teaches.

1. **Bytes.** Any text is a sequence of UTF-8 bytes, so 256 starting tokens cover every language and emoji; nothing
   is ever "unknown". Chinese costs 3 bytes a character, which is why a vocabulary must learn Chinese merges.
2. **Regex pre-split.** Text is first cut into chunks (words, numbers, punctuation, whitespace runs) and merges never
   cross a chunk, so " dog" and "dog." do not compete for one token. mosslite's pattern also keeps Chinese characters
   apart from Latin letters, and digits in groups of three.
3. **Special tokens.** `<eom>` and friends are single ids added after the merges; ordinary text can never produce them
   (a user who types "<eom>" gets the bytes of "<eom>"), unless the caller explicitly allows it.

Training repeatedly merges the most frequent adjacent pair. Pair counts are kept incrementally, with an index from
each pair to the chunks that contain it and a heap of candidates, so a merge only touches the chunks that hold it,
and in them only the pairs next to it: 1 MB to a 4,096-token vocabulary takes seconds, not hours.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import regex

GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
MOSSLITE_PATTERN = (r"""'(?:[sdmt]|ll|ve|re)| ?\p{Han}+| ?[^\s\p{N}\p{Han}\p{P}\p{S}]+| ?\p{N}{1,3}"""
                    r"""| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
MOSS_SPECIAL_TOKENS = ["<|endoftext|>", "<eoh>", "<eom>", "<eot>", "<eoc>", "<eor>"]


def special_token_split(text: str, allowed: set[str]) -> list[tuple[str, bool]]:
    """Cut `text` into (piece, is_special) around the allowed special tokens, longest first."""
    if not allowed:
        return [(text, False)]
    pattern = "(" + "|".join(regex.escape(s) for s in sorted(allowed, key=len, reverse=True)) + ")"
    return [(piece, i % 2 == 1) for i, piece in enumerate(regex.split(pattern, text)) if piece]


def resolve_allowed(allowed_special: set[str] | str, special_tokens: dict[str, int]) -> set[str]:
    """The special tokens a caller allows: "none" (the safe default for user text), "all", or a set of names."""
    if allowed_special == "all":
        return set(special_tokens)
    if allowed_special == "none":
        return set()
    unknown = set(allowed_special) - set(special_tokens)
    if unknown:
        raise ValueError(f"allowed_special names tokens this tokenizer lacks: {sorted(unknown)}")
    return set(allowed_special)


class ScratchBPE:
    """A byte-level BPE tokenizer in plain Python: `vocab` maps id → bytes, `merges` maps an id pair → merged id
    (a lower merged id merges first), `byte_ids` maps each byte value to its id (identity unless loaded from GPT-2)."""

    def __init__(self, merges: dict[tuple[int, int], int] | None = None, byte_ids: Sequence[int] | None = None,
                 special_tokens: dict[str, int] | None = None, pattern: str = MOSSLITE_PATTERN,
                 vocab: dict[int, bytes] | None = None) -> None:
        self.byte_ids = list(byte_ids) if byte_ids is not None else list(range(256))
        self.merges = dict(merges or {})
        self.pattern = pattern
        self._split = regex.compile(pattern)
        self.vocab = dict(vocab) if vocab is not None else self._build_vocab()
        self.special_tokens = dict(special_tokens or {})
        for token, i in self.special_tokens.items():
            self.vocab[i] = token.encode("utf-8")
        self._special_ids = set(self.special_tokens.values())
        self._cache: dict[str, list[int]] = {}

    def _build_vocab(self) -> dict[int, bytes]:
        vocab = {i: bytes([b]) for b, i in enumerate(self.byte_ids)}
        for (a, b), i in sorted(self.merges.items(), key=lambda item: item[1]):
            vocab[i] = vocab[a] + vocab[b]
        return vocab

    @property
    def vocab_size(self) -> int:
        return max(self.vocab) + 1

    # ------------------------------------------------------------------------------------------------- encoding
    def _encode_chunk(self, chunk: str) -> list[int]:
        """Merge a chunk's bytes, always applying the earliest-learned merge present, until none applies."""
        if chunk in self._cache:
            return self._cache[chunk]
        ids = self.encode_bytes(chunk.encode("utf-8"))
        if len(self._cache) < 100_000:
            self._cache[chunk] = ids
        return ids

    def encode_bytes(self, data: bytes) -> list[int]:
        """Merge raw bytes as one chunk (no regex split): how a single token's bytes decompose into older tokens."""
        ids = [self.byte_ids[b] for b in data]
        while len(ids) > 1:
            pair = min(zip(ids, ids[1:]), key=lambda p: self.merges.get(p, float("inf")))
            if pair not in self.merges:
                break
            ids = merge(ids, pair, self.merges[pair])
        return ids

    def encode_ordinary(self, text: str) -> list[int]:
        """Ids of `text` with no special tokens at all: split into chunks, then merge each chunk's bytes."""
        return [i for chunk in self._split.findall(text) for i in self._encode_chunk(chunk)]

    def encode(self, text: str, allowed_special: set[str] | str = "none") -> list[int]:
        """Token ids of `text`. Special tokens are recognised only if allowed ("all" or a set of them)."""
        out: list[int] = []
        for piece, special in special_token_split(text, resolve_allowed(allowed_special, self.special_tokens)):
            out += [self.special_tokens[piece]] if special else self.encode_ordinary(piece)
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Text of `ids`; bytes that do not (yet) form a whole UTF-8 character show as U+FFFD."""
        try:
            return b"".join(self.vocab[i] for i in ids).decode("utf-8", errors="replace")
        except KeyError as err:
            raise ValueError(f"token id {err.args[0]} is not in this tokenizer's vocabulary") from None

    def token_bytes(self, i: int) -> bytes:
        """The bytes of one token (part of a UTF-8 character when a merge stopped inside one)."""
        return self.vocab[i]

    # ------------------------------------------------------------------------------------------------- training
    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int, special_tokens: Sequence[str] = MOSS_SPECIAL_TOKENS,
              pattern: str = MOSSLITE_PATTERN, start: ScratchBPE | None = None, verbose: bool = False) -> ScratchBPE:
        """Learn merges until the vocabulary (bytes + merges + special tokens) has `vocab_size` entries.

        With `start`, continue from that tokenizer's merges (vocabulary extension): the texts are first encoded with
        them and new merges are appended after. Special tokens always take the last ids.
        """
        base = start or cls(pattern=pattern)
        next_id = max(i for i in base.vocab if i not in base._special_ids) + 1
        n_merges = vocab_size - len(special_tokens) - next_id
        if n_merges < 0:
            raise ValueError(f"vocab_size={vocab_size} is smaller than the {next_id} tokens already there plus "
                             f"{len(special_tokens)} special tokens")
        # Each distinct chunk is one "word" with a frequency: " the" seen 10,000 times is merged once, not 10,000.
        chunk_counts = Counter(chunk for text in texts for chunk in base._split.findall(text))
        words = [base._encode_chunk(chunk) for chunk in chunk_counts]
        freqs = list(chunk_counts.values())
        merges = dict(base.merges)
        vocab = {i: b for i, b in base.vocab.items() if i not in base._special_ids}

        pair_counts: Counter = Counter()
        where: dict[tuple[int, int], set[int]] = defaultdict(set)  # pair -> the words that contain (or contained) it
        for w, (ids, f) in enumerate(zip(words, freqs)):
            for pair in zip(ids, ids[1:]):
                pair_counts[pair] += f
                where[pair].add(w)
        # Max-heap by count, ties to the smallest pair; an entry whose count is out of date is skipped when popped.
        heap = [(-c, p) for p, c in pair_counts.items()]
        heapq.heapify(heap)
        for _ in range(n_merges):
            while heap and -heap[0][0] != pair_counts.get(heap[0][1]):
                heapq.heappop(heap)
            if not heap:
                break  # nothing left to merge: every chunk is a single token
            count, pair = heapq.heappop(heap)
            merges[pair] = next_id
            vocab[next_id] = vocab[pair[0]] + vocab[pair[1]]
            changed: set[tuple[int, int]] = set()
            for w in where.pop(pair):  # only the words holding the pair change, and in them only its neighbours
                merged, gone, born = merge_tracked(words[w], pair, next_id)
                words[w] = merged
                for p in gone:
                    pair_counts[p] -= freqs[w]
                    changed.add(p)
                for p in born:
                    pair_counts[p] += freqs[w]
                    where[p].add(w)
                    changed.add(p)
            for p in changed:
                if pair_counts[p] > 0:
                    heapq.heappush(heap, (-pair_counts[p], p))
                else:
                    del pair_counts[p]
            if verbose and next_id % 500 == 0:
                print(f"merge {next_id}: {vocab[next_id]!r} ({-count:,} occurrences)")
            next_id += 1
        specials = {token: next_id + i for i, token in enumerate(special_tokens)}
        return cls(merges, base.byte_ids, specials, base.pattern, vocab=vocab)

    # ---------------------------------------------------------------------------------------------- save / load
    def to_json(self) -> dict:
        """The Hugging Face `tokenizer.json` layout, so `tokenizers` and `transformers` can read it too."""
        from mosslite.tokenizer.fast import hf_tokenizer_json

        return hf_tokenizer_json(self)

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def save(self, path: str | Path) -> Path:
        from mosslite.tokenizer.fast import save_tokenizer_json

        return save_tokenizer_json(self.to_json(), path)


def merge(ids: list[int], pair: tuple[int, int], new: int) -> list[int]:
    """Replace every non-overlapping occurrence of `pair` in `ids` (left to right) by `new`."""
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def merge_tracked(ids: list[int], pair: tuple[int, int], new: int) -> tuple[list[int], list[tuple[int, int]],
                                                                             list[tuple[int, int]]]:
    """`merge`, plus the pairs it removed and the pairs it created, so training can update its counts locally.

    Merging (a, b) in "x a b y" removes (x, a), (a, b), (b, y) and creates (x, N), (N, y); every other pair of the
    word is untouched. Positions are collected in sets so back-to-back matches ("a b a b") are not counted twice.
    """
    merged: list[int] = []
    gone: set[int] = set()  # start positions, in `ids`, of the pairs that disappear
    born: set[int] = set()  # start positions, in `merged`, of the pairs that appear
    i = 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            gone.update((i - 1, i, i + 1))
            born.update((len(merged) - 1, len(merged)))
            merged.append(new)
            i += 2
        else:
            merged.append(ids[i])
            i += 1
    return (merged, [(ids[j], ids[j + 1]) for j in gone if 0 <= j < len(ids) - 1],
            [(merged[j], merged[j + 1]) for j in born if 0 <= j < len(merged) - 1])
