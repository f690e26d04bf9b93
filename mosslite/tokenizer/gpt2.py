"""GPT-2's published byte-level BPE (50,257 tokens), loaded into the from-scratch encoder for a parity check.

The ranks file `gpt2.tiktoken` ships inside the `openai-whisper` source distribution on PyPI. Loading never touches
the network; `fetch_gpt2_ranks` (what `scripts/fetch_gpt2_vocab.py` and `make test`'s install step run) downloads the
sdist once with pip, checks the file's sha256 and puts it in the mosslite cache.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from mosslite import cache_dir
from mosslite.fileio import atomic_write
from mosslite.tokenizer.bpe import GPT2_PATTERN, ScratchBPE

GPT2_FILE = "gpt2.tiktoken"
GPT2_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"  # whisper 20250625
WHISPER = "openai-whisper==20250625"


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


def load_gpt2_ranks(path: str | Path | None = None) -> dict[bytes, int]:
    """GPT-2's ranks from `path`, or from wherever `gpt2_ranks_path` finds them; a clear error if absent."""
    path = Path(path) if path is not None else gpt2_ranks_path()
    if path is None or not path.is_file():
        raise FileNotFoundError(f"GPT-2's {GPT2_FILE} is not at {path or Path(cache_dir()) / GPT2_FILE}; run "
                                f"`python scripts/fetch_gpt2_vocab.py` (it takes the file from the {WHISPER} sdist "
                                f"on PyPI) or set MOSSLITE_GPT2_TIKTOKEN to a copy")
    return read_ranks(path)


def from_ranks(ranks: dict[bytes, int], special_tokens: dict[str, int] | None = None,
               pattern: str = GPT2_PATTERN) -> ScratchBPE:
    """Recover the merges behind a rank table: each multi-byte token is the merge of the two pieces that BPE,
    limited to lower ranks, leaves when run on its bytes."""
    byte_ids = [ranks[bytes([b])] for b in range(256)]
    partial = ScratchBPE({}, byte_ids, {}, pattern)
    for token, rank in sorted(ranks.items(), key=lambda item: item[1]):
        if len(token) == 1:
            continue
        parts = partial.encode_bytes(token)
        if len(parts) != 2:
            raise ValueError(f"token {token!r} (rank {rank}) is not the merge of two lower-ranked tokens")
        partial.merges[(parts[0], parts[1])] = rank
    return ScratchBPE(partial.merges, byte_ids, special_tokens or {"<|endoftext|>": 50256}, pattern)


def load_gpt2(path: str | Path | None = None) -> ScratchBPE:
    """GPT-2's tokenizer in the from-scratch encoder (50,257 tokens, `<|endoftext|>` = 50256)."""
    return from_ranks(load_gpt2_ranks(path))


def fetch_gpt2_ranks(target: str | Path | None = None, timeout: float = 300) -> Path:
    """Download the whisper sdist with pip, check `gpt2.tiktoken`'s sha256 and write it to `target` (the cache).

    Does nothing when a good copy is already there. Raises ConnectionError, naming the pip command, when the registry
    cannot be reached (pip honours PIP_INDEX_URL and friends).
    """
    target = Path(target) if target is not None else Path(cache_dir()) / GPT2_FILE
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == GPT2_SHA256:
        return target
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:", WHISPER, "-d", tmp]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        archives = list(Path(tmp).glob("*.tar.gz"))
        if result.returncode != 0 or not archives:
            last = (result.stderr.strip().splitlines() or ["no sdist downloaded"])[-1]
            raise ConnectionError(f"could not download {WHISPER} for {GPT2_FILE} (`{' '.join(cmd[2:])}`): {last}")
        with tarfile.open(archives[0]) as tar:
            member = next((m for m in tar.getmembers() if m.name.endswith(f"assets/{GPT2_FILE}")), None)
            if member is None:
                raise ValueError(f"{archives[0].name} holds no assets/{GPT2_FILE}")
            data = tar.extractfile(member).read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != GPT2_SHA256:
        raise ValueError(f"{GPT2_FILE} from {WHISPER} has sha256 {digest}, expected {GPT2_SHA256}; not cached")
    atomic_write(target, lambda tmp_path: tmp_path.write_bytes(data))
    return target
