"""`PackedDataModule`: training and validation batches from the packed token arrays of `mosslite.data.pack`.

Micro-batch i of a run is a function of (seed, i) alone: its windows are drawn with a generator seeded from the two,
and each rank takes its own rows of that global batch. So a resumed run sees exactly the batches the uninterrupted run
would have seen, and one process with batch 8 sees the same data as two processes with batch 4 each.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from mosslite.data.pack import PackedTokens
from mosslite.train.config import PretrainConfig

# The chapter-4 corpus: the bilingual world (a larger one than the default, so it repeats less) with real English and
# Chinese text where the corpora extra is installed. Shares are of units (words, characters), not tokens.
DEFAULT_MIX = {"world:n_entities=300,docs_per_fact=20": 0.6, "shakespeare": 0.3, "peoples_daily": 0.1}


def prepare_data(out_dir: str | Path | None = None, shares: dict[str, float] | None = None,
                 total_units: int = 3_000_000, vocab_size: int = 4096, seed: int = 0,
                 tokenizer_texts: Sequence[str] = ()) -> tuple[Path, Path]:
    """Mix the corpora, train a byte-level BPE tokenizer on the mix and pack it; returns (data_dir, tokenizer_dir).

    Sources whose package is not installed are left out and the rest rescaled, so the world alone always works.
    `tokenizer_texts` are learnt by the tokenizer but not packed (e.g. rendered chat conversations, so the role
    headers and the meta instruction of fine-tuning cost a few tokens, not dozens). The result is kept under
    `out_dir` (default: the mosslite cache, keyed by the arguments) and reused.
    """
    from mosslite import cache_dir
    from mosslite.data import corpora
    from mosslite.data.pack import pack
    from mosslite.tokenizer import load_tokenizer, train_tokenizer

    installed = {row["name"] for row in corpora.available() if row["installed"]}
    wanted = {k: v for k, v in (shares or DEFAULT_MIX).items() if k.startswith("world") or k in installed}
    shares = {k: v / sum(wanted.values()) for k, v in wanted.items()}
    parts = [shares, total_units, vocab_size, seed] + ([list(tokenizer_texts)] if tokenizer_texts else [])
    key = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:10]  # unchanged when there are no extra texts
    out = Path(out_dir) if out_dir else Path(cache_dir()) / "pretrain" / f"mix-{key}"
    data_dir, tokenizer_dir = out / "data", out / "tokenizer"
    if (data_dir / "meta.json").is_file() and tokenizer_dir.is_dir():
        return data_dir, tokenizer_dir
    mixture = corpora.mix(shares, total_units=total_units, seed=seed)
    documents = list(mixture.documents())
    tokenizer = train_tokenizer(documents + list(tokenizer_texts), vocab_size=vocab_size, backend="fast")
    tokenizer.save(tokenizer_dir)
    pack(documents, load_tokenizer(tokenizer_dir), data_dir, val_fraction=0.02, seed=seed, progress=False,
         sources=[{"source": r.source, "units": r.units, "documents": r.documents} for r in mixture.rows])
    return data_dir, tokenizer_dir


class GlobalBatches(Dataset):
    """Item i: this rank's rows of micro-batch i of the whole run, `(x, y)` token ids [batch_size, block_size]."""

    def __init__(self, tokens: PackedTokens, batch_size: int, block_size: int, seed: int, rank: int,
                 world: int) -> None:
        self.tokens, self.batch_size, self.block_size = tokens, batch_size, block_size
        self.seed, self.rank, self.world = seed, rank, world

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + i)  # batch i never depends on batch i-1
        x, y = self.tokens.batch(self.batch_size * self.world, self.block_size, generator)
        rows = slice(self.rank * self.batch_size, (self.rank + 1) * self.batch_size)
        return x[rows], y[rows]


class _CountFrom:
    """Micro-step indices start, start+1, ... without end (no `len`: Lightning then runs until max_steps)."""

    def __init__(self, start: int) -> None:
        self.start = start

    def __iter__(self):
        return itertools.count(self.start)


class PackedDataModule(L.LightningDataModule):
    """Random windows of train.bin for training; the same leading windows of val.bin for every evaluation.

    Opening the arrays checks them (size, dtype, ids, and the tokenizer's fingerprint when `tokenizer_dir` is set)
    before any model is built.
    """

    def __init__(self, config: PretrainConfig) -> None:
        super().__init__()
        self.config = config
        folder = Path(config.data_dir)
        if not (folder / "meta.json").is_file():
            raise FileNotFoundError(f"data_dir={config.data_dir}: no packed corpus there (meta.json is missing); "
                                    f"pack one with mosslite.data.pack.pack first")
        self.tokenizer = None
        if config.tokenizer_dir:
            from mosslite.tokenizer import load_tokenizer

            self.tokenizer = load_tokenizer(config.tokenizer_dir)
        self.train = PackedTokens(folder / "train.bin", tokenizer=self.tokenizer)
        self.val = PackedTokens(folder / "val.bin", tokenizer=self.tokenizer)
        self.vocab_size = int(self.train.meta["vocab_size"])

    def train_dataloader(self) -> DataLoader:
        cfg, trainer = self.config, self.trainer
        dataset = GlobalBatches(self.train, cfg.batch_size, cfg.context, cfg.seed, trainer.global_rank,
                                trainer.world_size)
        # One endless epoch that max_steps ends. A resumed run starts at the micro-step after its checkpoint, so the
        # data continues exactly where it stopped.
        return DataLoader(dataset, batch_size=None, sampler=_CountFrom(trainer.global_step * cfg.grad_accum))

    def val_dataloader(self) -> DataLoader:
        cfg, trainer = self.config, self.trainer
        rows = slice(trainer.global_rank * cfg.batch_size, (trainer.global_rank + 1) * cfg.batch_size)
        batches = []
        for x, y in self.val.iter_batches(cfg.batch_size * trainer.world_size, cfg.context, drop_last=True):
            batches.append((x[rows], y[rows]))
            if len(batches) == cfg.val_batches:
                break
        if not batches:
            raise ValueError(f"data_dir={cfg.data_dir}: val.bin holds {len(self.val):,} tokens, less than one "
                             f"validation batch of {cfg.batch_size * trainer.world_size} windows of {cfg.context}; "
                             f"pack with a larger val_fraction or lower batch_size")
        return DataLoader(batches, batch_size=None)
