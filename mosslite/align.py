"""Direct Preference Optimisation (DPO, Rafailov et al. 2023) written from scratch, on the fine-tuning Trainer.

For a prompt x with a preferred answer y_w and a dispreferred y_l, DPO gives every answer an implicit reward
r(y) = β·(log π(y|x) − log π_ref(y|x)) and minimises −log σ(r(y_w) − r(y_l)): the policy π learns to raise the chosen
answer's probability *relative to* a frozen reference π_ref (the SFT model) and lower the rejected one's, with no
reward model and no RL loop. β sets how hard the policy is held near the reference. Log-probabilities are summed over
the answer's tokens only, under the SFT loss mask; the prompt is context. `mosslite align --config …` runs it.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader

from mosslite.chat import END_TOKENS, IGNORE_INDEX, Policy, encode_pieces, fit_to_context
from mosslite.checkpoint import load_checkpoint
from mosslite.data.preference import (
    PreferencePair,
    answer_body,
    prompt_conversation,
    read_pairs_jsonl,
    world_pairs,
)
from mosslite.data.world import World
from mosslite.scaling import training_flops_per_token
from mosslite.train.align_config import AlignConfig
from mosslite.train.callbacks import History, log_metrics
from mosslite.train.data import _CountFrom  # micro-step indices without end: max_steps ends the run
from mosslite.train.run import fit
from mosslite.train.sft import ExportFinal, SFTModule, base_model_config, checked_base
from mosslite.train.sft_data import Example, SeededBatches, collate, even_batches


# ------------------------------------------------------------------------------------------------------- the loss
def sequence_logprobs(logits: Tensor, labels: Tensor) -> Tensor:
    """[B] sum of log p(label) over the positions whose label is not IGNORE_INDEX (logits [B, T, V], labels [B, T],
    already shifted as `collate` shifts them). Computed in float32: sums of many small log-probs lose bits in bf16."""
    mask = labels != IGNORE_INDEX
    logp = torch.log_softmax(logits.float(), dim=-1)
    picked = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # IGNORE_INDEX rows read id 0, masked
    return (picked * mask).sum(-1)


@dataclass
class DPOOutput:
    loss: Tensor  # scalar, mean over pairs; carries the gradient
    chosen_rewards: Tensor  # [B] β·(log π − log π_ref) of the chosen answers, detached
    rejected_rewards: Tensor  # [B] the same for the rejected answers

    @property
    def margin(self) -> float:
        """Mean reward margin r(chosen) − r(rejected): 0 at the start (π = π_ref), grows as the policy learns."""
        return float((self.chosen_rewards - self.rejected_rewards).mean())

    @property
    def accuracy(self) -> float:
        """Share of pairs whose chosen answer has the larger reward (ties count as wrong)."""
        return float((self.chosen_rewards > self.rejected_rewards).float().mean())


def dpo_loss(policy_chosen: Tensor, policy_rejected: Tensor, reference_chosen: Tensor, reference_rejected: Tensor,
             beta: float, sft_weight: float = 0.0, chosen_tokens: Tensor | None = None) -> DPOOutput:
    """DPO's loss from summed answer log-probabilities ([B] each): mean of −log σ(β·((πc − refc) − (πr − refr))).
    `sft_weight` > 0 adds RPO's term, sft_weight · mean(−πc / chosen_tokens): the chosen answer's mean token
    negative log-likelihood, which keeps it likely in absolute terms (DPO alone can win by making both unlikely)."""
    chosen = beta * (policy_chosen - reference_chosen)
    rejected = beta * (policy_rejected - reference_rejected)
    loss = -F.logsigmoid(chosen - rejected).mean()  # logsigmoid, not log(sigmoid()): exact for large margins
    if sft_weight:
        if chosen_tokens is None:
            raise ValueError("sft_weight needs chosen_tokens: the number of answer tokens of each chosen answer")
        loss = loss + sft_weight * (-policy_chosen / chosen_tokens.clamp(min=1)).mean()
    return DPOOutput(loss, chosen.detach(), rejected.detach())


# ------------------------------------------------------------------------------------------------------- the data
@dataclass(frozen=True)
class PairExample:
    chosen: Example  # prompt + chosen answer; labels only on the answer's tokens
    rejected: Example


def encode_answers(prompt: str, answers: Sequence[str], tokenizer, policy: Policy, max_tokens: int) -> list[Example]:
    """prompt + each answer (`" text<eom>"`), tokenised exactly as SFT and inference tokenise the conversation (piece
    by piece). Labels are the answer's ids where `policy` trains them; the prompt (earlier answers too) is context.
    Old turns are dropped whole to fit `max_tokens`; ValueError when even the newest turn does not fit."""
    encoded = []
    for i, answer in enumerate(answers):
        body = answer_body(answer, f"answer {i}" if len(answers) > 2 else ("chosen", "rejected")[i])
        pieces = [(body, "assistant", "assistant"), (END_TOKENS["moss"], "end", "assistant")]
        encoded.append(encode_pieces(pieces, tokenizer, policy))
    room = max_tokens - max(len(ids) for ids, _ in encoded)
    if room < 1:
        raise ValueError(f"an answer alone needs more than {max_tokens} tokens")
    conversation = fit_to_context(prompt_conversation(prompt), tokenizer, room, open_field="moss")
    prompt_ids, _ = encode_pieces(conversation.pieces(open_field="moss"), tokenizer, policy)
    return [Example(prompt_ids + ids, [IGNORE_INDEX] * len(prompt_ids)
                    + [t if keep else IGNORE_INDEX for t, keep in zip(ids, train)]) for ids, train in encoded]


def encode_pair(pair: PreferencePair, tokenizer, policy: Policy, max_tokens: int) -> PairExample:
    """Both sequences of a pair (see `encode_answers`)."""
    return PairExample(*encode_answers(pair.prompt, (pair.chosen, pair.rejected), tokenizer, policy, max_tokens))


@torch.no_grad()
def answer_logprobs(model, tokenizer, prompt: str, answers: Sequence[str], policy: Policy = "assistant") -> list[float]:
    """The summed log-probability `model` gives each candidate answer after `prompt` (the quantity DPO moves):
    put the same question to the SFT and the aligned model and compare, or read off a calibration curve."""
    pad_id = tokenizer.special_tokens.get("<|endoftext|>", 0)
    x, y = collate(encode_answers(prompt, answers, tokenizer, policy, model.config.block_size + 1), pad_id)
    device, was_training = next(model.parameters()).device, model.training
    try:
        return sequence_logprobs(model.eval()(x.to(device)), y.to(device)).tolist()
    finally:
        model.train(was_training)


def collate_pairs(pairs: Sequence[PairExample], pad_id: int) -> tuple[Tensor, Tensor]:
    """(x, y) [2B, T]: the B chosen sequences, then the B rejected ones, padded together (one forward pass each for
    the policy and the reference)."""
    return collate([p.chosen for p in pairs] + [p.rejected for p in pairs], pad_id)


@dataclass
class PairReport:
    """What went into the batches and what did not, so nothing is dropped silently."""

    sources: Counter = field(default_factory=Counter)  # pairs per source ("world/unknown", "jsonl:file", …)
    bad_records: list = field(default_factory=list)  # mosslite.data.sft.BadRecord (on_bad_record: continue)
    too_long: int = 0  # pairs whose newest turn plus answer do not fit block_size: left out
    train: int = 0
    val: int = 0
    mean_tokens: float = 0.0  # per training sequence

    def lines(self) -> list[str]:
        sources = ", ".join(f"{n:,} {name}" for name, n in self.sources.items())
        out = [f"pairs: {sources}; {self.train:,} train / {self.val:,} validation, {self.mean_tokens:.0f} tokens "
               f"per sequence on average"]
        if self.too_long:
            out.append(f"{self.too_long:,} pair(s) left out: too long for block_size even with one turn")
        if self.bad_records:
            out.append(f"{len(self.bad_records):,} bad JSONL record(s) left out, first: {self.bad_records[0]}")
        return out


def load_pairs(config: AlignConfig, report: PairReport | None = None) -> list[tuple[str, PreferencePair]]:
    """(source, pair) from the world generator and the JSONL files the config names, in a fixed order."""
    report = report if report is not None else PairReport()
    out: list[tuple[str, PreferencePair]] = []
    if config.world_pairs:
        pairs = world_pairs(World(config.world_config()), config.world_pairs, tuple(config.world_languages),
                            tuple(config.pair_kinds), config.meta_instruction())
        out += [(f"world/{p.kind}", p) for p in pairs]
    for path in config.pairs:
        pairs, bad = read_pairs_jsonl(path, on_error=config.on_bad_record)
        report.bad_records += bad
        out += [(f"jsonl:{path}", p) for p in pairs]
    report.sources.update(source for source, _ in out)
    return out


class PairBatches(SeededBatches):
    """SFT's seeded micro-batches (`SeededBatches`) of pairs: a resumed run sees the same batches."""

    def __init__(self, pairs: Sequence[PairExample], batch_size: int, seed: int, rank: int, world: int,
                 pad_id: int) -> None:
        super().__init__(pairs, batch_size, seed, rank, world)
        self.pad_id = pad_id

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return collate_pairs(self.rows(i), self.pad_id)


class PreferenceDataModule(L.LightningDataModule):
    """Pair batches for `AlignModule`, loaded, split and encoded up front so bad data fails before any model."""

    def __init__(self, config: AlignConfig, tokenizer, block_size: int) -> None:
        super().__init__()
        self.config, self.report = config, PairReport()
        items = load_pairs(config, self.report)
        random.Random(f"align-split-{config.seed}").shuffle(items)
        n_val = round(config.val_fraction * len(items))
        self.pad_id = tokenizer.special_tokens.get("<|endoftext|>", 0)
        self.val_pairs = self._encode(items[:n_val], tokenizer, block_size + 1)
        self.train_pairs = self._encode(items[n_val:], tokenizer, block_size + 1)
        if not self.train_pairs:
            raise ValueError(f"no training pair fits block_size={block_size} ({self.report.too_long} too long): "
                             f"raise block_size or use meta: compact")
        self.report.train, self.report.val = len(self.train_pairs), len(self.val_pairs)
        lengths = [len(e.ids) - 1 for p in self.train_pairs for e in (p.chosen, p.rejected)]
        self.report.mean_tokens = sum(lengths) / len(lengths)

    def _encode(self, items, tokenizer, max_tokens: int) -> list[PairExample]:
        out = []
        for _, pair in items:
            try:
                out.append(encode_pair(pair, tokenizer, self.config.policy, max_tokens))
            except ValueError:
                self.report.too_long += 1
        return out

    def train_dataloader(self) -> DataLoader:
        cfg, trainer = self.config, self.trainer
        dataset = PairBatches(self.train_pairs, cfg.batch_size, cfg.seed, trainer.global_rank, trainer.world_size,
                              self.pad_id)
        return DataLoader(dataset, batch_size=None, sampler=_CountFrom(trainer.global_step * cfg.grad_accum))

    def val_dataloader(self) -> DataLoader:
        cfg, trainer = self.config, self.trainer
        batches = even_batches(self.val_pairs, cfg.batch_size, cfg.val_batches, trainer.global_rank,
                               trainer.world_size, lambda rows: collate_pairs(rows, self.pad_id))
        return DataLoader(batches, batch_size=None)


# ----------------------------------------------------------------------------------------------------- the module
class AlignModule(SFTModule):
    """The policy is `SFTModule`'s model (the base, LoRA adapters injected when finetune=lora); the reference is
    a second, frozen copy kept outside the module's parameters, so neither the optimizer nor checkpoints hold it."""

    def __init__(self, model_config, config: AlignConfig) -> None:
        super().__init__(model_config, config)
        self._reference: tuple = ()  # a tuple hides the module from nn.Module: no parameters, no state_dict

    @property
    def reference(self):
        if not self._reference:
            model = load_checkpoint(self.config.reference or self.config.base).eval()
            model.requires_grad_(False)
            self._reference = (model,)
        return self._reference[0]

    def _dpo(self, batch: tuple[Tensor, Tensor]) -> DPOOutput:
        x, y = batch
        half = x.shape[0] // 2  # chosen rows first, then rejected (collate_pairs)
        policy = sequence_logprobs(self.model(x), y)
        reference = self.reference.to(x.device)  # a no-op after the first call
        with torch.no_grad():
            ref = sequence_logprobs(reference(x), y)
        return dpo_loss(policy[:half], policy[half:], ref[:half], ref[half:], self.config.beta,
                        self.config.sft_weight, (y[:half] != IGNORE_INDEX).sum(-1))

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> dict:
        out = self._dpo(batch)
        return {"loss": out.loss, "margin": out.margin, "accuracy": out.accuracy}

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        out = self._dpo(batch)
        size = batch[0].shape[0] // 2
        for name, value in (("loss", out.loss), ("reward_margin", out.margin), ("reward_accuracy", out.accuracy),
                            ("chosen_reward", out.chosen_rewards.mean()),
                            ("rejected_reward", out.rejected_rewards.mean())):
            self.log(f"val/{name}", value, sync_dist=True, prog_bar=name == "loss", batch_size=size)


@dataclass
class PreferenceHistory(L.Callback):
    """DPO's own measurements: (step, margin, accuracy) of every training micro-batch (this rank) and of each
    validation (all ranks); also sent to the CSV and TensorBoard loggers as train/reward_*."""

    train: list[tuple[int, float, float]] = field(default_factory=list)
    val: list[tuple[int, float, float]] = field(default_factory=list)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int):
        step = trainer.global_step
        self.train.append((step, outputs["margin"], outputs["accuracy"]))
        log_metrics(trainer, {"train/reward_margin": outputs["margin"], "train/reward_accuracy": outputs["accuracy"]})

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics = trainer.callback_metrics
        if not trainer.sanity_checking and "val/reward_margin" in metrics:
            self.val.append((trainer.global_step, float(metrics["val/reward_margin"]),
                             float(metrics["val/reward_accuracy"])))


@dataclass
class AlignResult:
    """What a finished alignment run leaves behind (on every rank; only rank 0 writes files)."""

    history: History
    preference: PreferenceHistory
    module: AlignModule
    checkpoint: Path | None  # the last resumable Lightning checkpoint
    final_dir: Path  # the plain (merged) aligned model + tokenizer.json
    wall_time: float
    data: PairReport


def align(config: AlignConfig, resume: bool = False, callbacks: Sequence[L.Callback] = (),
          quiet: bool = False) -> AlignResult:
    """DPO-tune `config.base` against `config.reference` (default: the base itself) on the configured pairs.

    Config, base, tokenizer and data are all checked before training; the run, callbacks, resuming and export are
    SFT's (`mosslite.train.run.fit`, `ExportFinal`)."""
    model_config, tokenizer, block_size = checked_base(config)
    if config.reference:  # a reference of another shape or vocabulary cannot score the same tokens
        reference = base_model_config(config, key="reference")
        if reference.vocab_size != model_config.vocab_size:
            raise ValueError(f"reference={config.reference} has vocab_size {reference.vocab_size} but base has "
                             f"{model_config.vocab_size}: the reference must share the base's tokenizer")
    data = PreferenceDataModule(config, tokenizer, block_size)
    module = AlignModule(model_config, config)
    out = Path(config.out_dir)
    tokens_per_step = 2 * data.report.mean_tokens * config.batch_size * config.grad_accum * config.devices
    settings = {"rules": list(config.meta_instruction().rules), "world": config.world, "policy": config.policy}
    export = ExportFinal(out / "final", tokenizer, lora=config.finetune == "lora", settings=settings)
    preference = PreferenceHistory()
    history, last, wall_time = fit(module, data, config, resume=resume, callbacks=callbacks, quiet=quiet,
                                   # the reference's forward pass costs a third of the policy's forward+backward
                                   flops_per_token=training_flops_per_token(model_config, block_size) * 4 / 3,
                                   tokens_per_step=tokens_per_step, extra=[lambda _: preference, lambda _: export])
    return AlignResult(history, preference, module, last, out / "final", wall_time, data.report)
