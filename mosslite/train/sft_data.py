"""Instruction-tuning data: conversations from the world, chatterbot-corpus and JSONL, as padded, masked batches.

Each conversation is rendered in the MOSS format and encoded with a loss-mask policy (`mosslite.chat`): labels are
the token ids where the policy trains and IGNORE_INDEX elsewhere. One that does not fit the context loses its oldest
turns whole (never a turn cut in half); one whose newest turn alone is too long is left out and counted. Batches pad
on the right with IGNORE_INDEX labels, so padding never carries loss and, under the causal mask, never changes what
a real token sees.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from mosslite.chat import IGNORE_INDEX, Conversation, MetaInstruction, Policy, Turn, encode_for_training
from mosslite.data.world import Dialogue, World
from mosslite.train.data import _CountFrom  # micro-step indices without end: max_steps ends the run
from mosslite.train.sft_config import SFTConfig


# ------------------------------------------------------------------------------------------------- sources
def world_conversation(dialogue: Dialogue, meta: MetaInstruction) -> Conversation:
    """A world dialogue in the chat format: absent fields become "None", the meta enables the dialogue's tools."""
    turns = [Turn(**{"inner_thoughts": "None", "commands": "None", "results": "None", **t.as_dict()})
             for t in dialogue.turns]
    return Conversation(turns=turns, meta=MetaInstruction(meta.rules, tuple(dialogue.tools), meta.inner_thoughts))


def chatterbot_conversations(languages: Sequence[str], meta: MetaInstruction) -> list[Conversation]:
    """chatterbot-corpus dialogues as conversations (alternating human/assistant lines; an unanswered last line is
    dropped). Raises CorpusUnavailable, with the pip command, when the package is not installed."""
    from mosslite.data.corpora import chatterbot_dialogues

    out = []
    for language in languages:
        for lines in chatterbot_dialogues(language):
            pairs = [Turn(human=h.strip(), moss=m.strip()) for h, m in zip(lines[::2], lines[1::2])]
            if pairs:
                out.append(Conversation(turns=pairs, meta=meta))
    return out


@dataclass
class DataReport:
    """What went into the batches and what did not, so nothing is ever dropped silently."""

    conversations: Counter = field(default_factory=Counter)  # per source
    bad_records: list = field(default_factory=list)  # mosslite.data.sft.BadRecord from JSONL files (continue mode)
    truncated: int = 0  # conversations that lost old turns to fit the context
    too_long: int = 0  # conversations whose newest turn alone does not fit: left out
    no_loss: int = 0  # conversations with no token to train under the policy: left out
    train: int = 0
    val: int = 0
    mean_tokens: float = 0.0  # per training sequence
    loss_share: float = 0.0  # share of training tokens that carry loss

    def lines(self) -> list[str]:
        sources = ", ".join(f"{n:,} {name}" for name, n in self.conversations.items())
        out = [f"conversations: {sources}; {self.train:,} train / {self.val:,} validation, "
               f"{self.mean_tokens:.0f} tokens each on average, {100 * self.loss_share:.0f}% of them carry loss"]
        if self.truncated or self.too_long or self.no_loss:
            out.append(f"{self.truncated:,} lost old turns to fit the context; left out: {self.too_long:,} too long "
                       f"even with one turn, {self.no_loss:,} with nothing to train")
        if self.bad_records:
            out.append(f"{len(self.bad_records):,} bad JSONL record(s) left out, first: {self.bad_records[0]}")
        return out


def load_conversations(config: SFTConfig, report: DataReport | None = None) -> list[tuple[str, Conversation]]:
    """(source, conversation) pairs from every source the config names, in a fixed order."""
    report = report if report is not None else DataReport()
    out: list[tuple[str, Conversation]] = []
    if config.world_dialogues:
        world = World(config.world_config())
        for dialogue in world.dialogues(config.world_dialogues, tuple(config.world_languages),
                                        tuple(config.world_kinds)):
            out.append((f"world/{dialogue.lang}", world_conversation(dialogue, config.meta_instruction())))
    if config.chatterbot:
        from mosslite.data.corpora import CorpusUnavailable

        try:
            conversations = chatterbot_conversations(config.chatterbot, config.meta_instruction())
        except CorpusUnavailable as err:
            raise FileNotFoundError(f"chatterbot={config.chatterbot}: {err}; or set chatterbot: [] in the config"
                                    ) from None
        out += [("chatterbot", c) for c in conversations]
    for path in config.jsonl:
        from mosslite.data.sft import read_sft_jsonl

        conversations, bad = read_sft_jsonl(path, on_error=config.on_bad_record)
        report.bad_records += bad
        out += [(f"jsonl:{path}", c) for c in conversations]
    report.conversations.update(source for source, _ in out)
    return out


# ------------------------------------------------------------------------------------------------ encoding
@dataclass(frozen=True)
class Example:
    ids: list[int]
    labels: list[int]  # ids where the policy trains, IGNORE_INDEX elsewhere


def encode_conversations(conversations: Sequence[Conversation], tokenizer, policy: Policy, max_tokens: int,
                         report: DataReport | None = None) -> list[Example]:
    """Encode for training, dropping old turns whole where a conversation exceeds `max_tokens` (counted in
    `report`); conversations that cannot fit, or train nothing, are left out and counted."""
    report = report if report is not None else DataReport()
    out = []
    for conversation in conversations:
        ids, labels = encode_for_training(conversation, tokenizer, policy)
        if len(ids) > max_tokens:
            try:
                ids, labels = encode_for_training(conversation, tokenizer, policy, max_tokens=max_tokens)
            except ValueError:
                report.too_long += 1
                continue
            report.truncated += 1
        if all(label == IGNORE_INDEX for label in labels[1:]):
            report.no_loss += 1
            continue
        out.append(Example(ids, labels))
    return out


def collate(examples: Sequence[Example], pad_id: int, length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) [B, T]: x = ids[:-1], y = labels[1:], right-padded to the longest (or to `length`); padding has
    label IGNORE_INDEX, so `lm_loss(model(x), y)` averages over exactly the tokens the policy trains."""
    T = length or max(len(e.ids) for e in examples) - 1
    x = torch.full((len(examples), T), pad_id, dtype=torch.long)
    y = torch.full((len(examples), T), IGNORE_INDEX, dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e.ids) - 1
        if n > T:
            raise ValueError(f"an example of {n + 1} tokens does not fit length {T} + 1")
        x[row, :n] = torch.tensor(e.ids[:-1])
        y[row, :n] = torch.tensor(e.labels[1:])
    return x, y


class SeededBatches(Dataset):
    """Micro-batch i of an endless stream of `items`, a function of (seed, i) alone: epochs are seeded permutations,
    so a resumed run and a run on more processes see exactly the same global batches. `rows(i)` is this rank's share
    of micro-batch i; SFT's and DPO's batches collate it their own way."""

    def __init__(self, items: Sequence, batch_size: int, seed: int, rank: int, world: int) -> None:
        self.items, self.batch_size, self.seed, self.rank, self.world = items, batch_size, seed, rank, world
        self._perm: tuple[int, list[int]] = (-1, [])

    def _order(self, epoch: int) -> list[int]:
        if self._perm[0] != epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = (epoch, torch.randperm(len(self.items), generator=generator).tolist())
        return self._perm[1]

    def _index(self, position: int) -> int:
        """The item at `position` of the run's endless stream of items."""
        n = len(self.items)
        return self._order(position // n)[position % n]

    def rows(self, i: int) -> list:
        start = i * self.batch_size * self.world + self.rank * self.batch_size
        return [self.items[self._index(p)] for p in range(start, start + self.batch_size)]


def even_batches(items: Sequence, batch_size: int, max_batches: int, rank: int, world: int,
                 collate_rows: Callable[[list], tuple]) -> list[tuple]:
    """Validation batches: every rank gets the same number of equal batches (smaller than batch_size when the
    validation data is short), at most `max_batches`, each collated by `collate_rows`."""
    per_rank = min(batch_size, len(items) // world)
    size, batches = per_rank * world, []
    for start in range(0, len(items) - size + 1, size) if per_rank else ():
        batches.append(collate_rows(list(items[start + rank * per_rank:][:per_rank])))
        if len(batches) == max_batches:
            break
    return batches


class SFTBatches(SeededBatches):
    """`SeededBatches` of examples as (x, y, tokens): `tokens` counts the trained tokens of the whole optimizer step
    (every rank, every accumulated micro-batch), so the loss can be a mean over exactly those tokens however the
    step is split up."""

    def __init__(self, examples: Sequence[Example], batch_size: int, seed: int, rank: int, world: int,
                 pad_id: int, grad_accum: int = 1) -> None:
        super().__init__(examples, batch_size, seed, rank, world)
        self.examples, self.pad_id, self.grad_accum = examples, pad_id, grad_accum
        self.trained = [sum(label != IGNORE_INDEX for label in e.labels[1:]) for e in examples]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        x, y = collate(self.rows(i), self.pad_id)
        size = self.batch_size * self.world
        first = i // self.grad_accum * self.grad_accum * size  # the optimizer step's first position
        tokens = sum(self.trained[self._index(p)] for p in range(first, first + self.grad_accum * size))
        return x, y, tokens


class SFTDataModule(L.LightningDataModule):
    """Masked conversation batches for `SFTModule`; everything is loaded and encoded up front, so a bad source or
    a tokenizer without the chat tokens fails before any model is built. `report` says what went in."""

    def __init__(self, config: SFTConfig, tokenizer, block_size: int) -> None:
        super().__init__()
        self.config = config
        self.report = DataReport()
        pairs = load_conversations(config, self.report)
        random.Random(f"sft-split-{config.seed}").shuffle(pairs)
        n_val = round(config.val_fraction * len(pairs))
        self.pad_id = tokenizer.special_tokens.get("<|endoftext|>", 0)
        encode = lambda items: encode_conversations([c for _, c in items], tokenizer, config.policy,  # noqa: E731
                                                    block_size + 1, self.report)
        self.val_examples = encode(pairs[:n_val])
        self.train_examples = encode(pairs[n_val:])
        if not self.train_examples:
            raise ValueError(f"no training conversation fits block_size={block_size} "
                             f"({self.report.too_long} too long): raise block_size or use meta: compact")
        r = self.report
        r.train, r.val = len(self.train_examples), len(self.val_examples)
        lengths = [len(e.ids) - 1 for e in self.train_examples]
        r.mean_tokens = sum(lengths) / len(lengths)
        r.loss_share = sum(sum(t != IGNORE_INDEX for t in e.labels[1:]) for e in self.train_examples) / sum(lengths)

    def train_dataloader(self) -> DataLoader:
        cfg, trainer = self.config, self.trainer
        dataset = SFTBatches(self.train_examples, cfg.batch_size, cfg.seed, trainer.global_rank, trainer.world_size,
                             self.pad_id, cfg.grad_accum)
        return DataLoader(dataset, batch_size=None, sampler=_CountFrom(trainer.global_step * cfg.grad_accum))

    def val_dataloader(self) -> DataLoader:
        cfg, trainer = self.config, self.trainer
        batches = even_batches(self.val_examples, cfg.batch_size, cfg.val_batches, trainer.global_rank,
                               trainer.world_size, lambda rows: collate(rows, self.pad_id))
        return DataLoader(batches, batch_size=None)
