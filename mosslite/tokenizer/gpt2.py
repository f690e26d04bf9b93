"""GPT-2's published byte-level BPE (50,257 tokens), loaded into the from-scratch encoder for a parity check.

The ranks file `gpt2.tiktoken` ships inside the `openai-whisper` source distribution on PyPI. Nothing here touches the
network: `scripts/fetch_gpt2_vocab.py` (run by `make test`'s install step) extracts the file into the cache once.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from mosslite import cache_dir
from mosslite.tokenizer.bpe import GPT2_PATTERN, ScratchBPE

GPT2_FILE = "gpt2.tiktoken"
GPT2_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"  # whisper 20250625


def gpt2_ranks_path() -> Path | None:
    """Where the ranks file is: $MOSSLITE_GPT2_TIKTOKEN, else the mosslite cache; None if absent."""
    candidates = [os.environ.get("MOSSLITE_GPT2_TIKTOKEN"), Path(cache_dir()) / GPT2_FILE]
    return next((Path(c) for c in candidates if c and Path(c).is_file()), None)


def read_ranks(path: str | Path) -> dict[bytes, int]:
    """tiktoken's format: one `base64(token) rank` per line."""
    ranks = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if line.strip():
            try:
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
            except ValueError as err:
                raise ValueError(f"{path}: line {number} is not 'base64token rank': {line[:60]!r}") from err
    return ranks


def from_ranks(ranks: dict[bytes, int], special_tokens: dict[str, int] | None = None,
               pattern: str = GPT2_PATTERN) -> ScratchBPE:
    """Recover the merges behind a rank table: each multi-byte token is the merge of the two pieces that BPE,
    limited to lower ranks, leaves when run on its bytes."""
    byte_ids = [ranks[bytes([b])] for b in range(256)]
    merges: dict[tuple[int, int], int] = {}
    partial = ScratchBPE({}, byte_ids, {}, pattern)
    for token, rank in sorted(ranks.items(), key=lambda item: item[1]):
        if len(token) == 1:
            continue
        parts = partial.encode_bytes(token)
        if len(parts) != 2:
            raise ValueError(f"token {token!r} (rank {rank}) is not the merge of two lower-ranked tokens")
        merges[(parts[0], parts[1])] = rank
        partial.merges[(parts[0], parts[1])] = rank
    return ScratchBPE(merges, byte_ids, special_tokens or {"<|endoftext|>": 50256}, pattern)


def load_gpt2() -> ScratchBPE:
    path = gpt2_ranks_path()
    if path is None:
        raise FileNotFoundError(f"GPT-2's {GPT2_FILE} is not cached; run `python scripts/fetch_gpt2_vocab.py` "
                                f"(it takes the file from the openai-whisper package on PyPI) or set "
                                f"MOSSLITE_GPT2_TIKTOKEN to a copy")
    return from_ranks(read_ranks(path))
