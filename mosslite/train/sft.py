"""`sft(config)`: instruction tuning of a pretrained checkpoint on MOSS-format conversations, full or LoRA.

The run is pretraining's, changed in three places: the model starts from `config.base` (with LoRA adapters injected
when `finetune: lora`), the batches are masked conversations (`sft_data`), and the exported `final/` folder holds a
plain model (LoRA merged in) with its tokenizer, ready for `mosslite chat`. The Trainer, the callbacks, resuming and
the strategies are the ones `pretrain` uses, so the CLI, notebooks and experiments share one recipe.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from mosslite.chat import END_TOKENS, IGNORE_INDEX
from mosslite.checkpoint import load_checkpoint, save_checkpoint
from mosslite.config import ModelConfig
from mosslite.fileio import atomic_write
from mosslite.lora import inject_lora, merge_lora, trainable_parameters
from mosslite.model import Transformer, build_model
from mosslite.scaling import training_flops_per_token
from mosslite.train.callbacks import History, export_weights
from mosslite.train.consolidate import load_into_shards
from mosslite.train.module import PretrainModule
from mosslite.train.run import fit
from mosslite.train.sft_config import CHAT_SETTINGS, SFTConfig, TuneConfig
from mosslite.train.sft_data import DataReport, SFTDataModule


class SFTModule(PretrainModule):
    """`PretrainModule` started from a checkpoint, with a loss over exactly the tokens the mask policy keeps.

    Pretraining windows are all full, so a mean per micro-batch is a mean per step. Conversations are not: one
    micro-batch may hold 40 trained tokens and another 400. So the loss is the *sum* over this micro-batch's trained
    tokens divided by the trained tokens of the whole optimizer step (all ranks, all accumulated micro-batches),
    times the ranks and micro-batches that Lightning and DDP average over: every trained token weighs the same, and
    two processes (or gradient accumulation) train exactly like one big batch.
    """

    def initial_model(self) -> Transformer:
        cfg = self.config
        torch.manual_seed(cfg.seed)  # LoRA's A matrices and dropout: the same on every rank
        if cfg.meta_init:  # FSDP: shapes only; fill_weights reads each rank's shard of the base
            return build_model(self.model_config, device="meta")
        model = load_checkpoint(cfg.base)
        if cfg.finetune == "lora":
            inject_lora(model, cfg.lora_rank, cfg.lora_alpha, cfg.lora_dropout, tuple(cfg.lora_targets))
        return model

    def fill_weights(self, model: Transformer) -> None:
        load_into_shards(model, self.config.base)

    def training_step(self, batch: tuple[Tensor, Tensor, int], batch_idx: int) -> Tensor:
        x, y, step_tokens = batch
        total = F.cross_entropy(self.model(x).flatten(0, 1).float(), y.flatten(), ignore_index=IGNORE_INDEX,
                                reduction="sum")
        averaged_over = self.trainer.world_size * self.trainer.accumulate_grad_batches if self._trainer else 1
        return total * averaged_over / max(int(step_tokens), 1)


class ExportFinal(L.Callback):
    """At the end, save a plain mosslite checkpoint (LoRA merged into a copy of the weights), the tokenizer, and
    chat.json (the meta instruction's rules and the world), so `mosslite chat` prompts the model as it was tuned."""

    def __init__(self, directory: Path, tokenizer, lora: bool, settings: dict) -> None:
        self.directory, self.tokenizer, self.lora, self.settings = directory, tokenizer, lora, settings

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.lora:  # the trained model keeps its adapters (resumable); the export is merged
            if trainer.is_global_zero:
                merged = merge_lora(copy.deepcopy(pl_module.model))
                save_checkpoint(merged, self.directory, extra={"step": trainer.global_step})
            trainer.strategy.barrier()
        else:
            export_weights(trainer, pl_module, self.directory)
        if trainer.is_global_zero:
            self.tokenizer.save(self.directory)
            text = json.dumps(self.settings, ensure_ascii=False, indent=1)
            atomic_write(self.directory / CHAT_SETTINGS, lambda tmp: tmp.write_text(text, encoding="utf-8"))


@dataclass
class SFTResult:
    """What a finished fine-tuning run leaves behind (on every rank; only rank 0 writes files)."""

    history: History
    module: SFTModule  # the trained model, LoRA adapters still separate when finetune=lora
    checkpoint: Path | None  # the last resumable Lightning checkpoint
    final_dir: Path  # the plain (merged) model + tokenizer.json: load_checkpoint and `mosslite chat` read it
    wall_time: float
    data: DataReport
    trainable_parameters: int
    total_parameters: int  # of the base model (what the export holds; LoRA adds none once merged)


def resolve_tokenizer(config: SFTConfig):
    """The tokenizer named by `tokenizer_dir`, or the one saved inside `base`; an error says which is missing."""
    from mosslite.tokenizer import load_tokenizer

    if config.tokenizer_dir:
        return load_tokenizer(config.tokenizer_dir)
    if (Path(config.base) / "tokenizer.json").is_file():
        return load_tokenizer(config.base)
    raise FileNotFoundError(f"tokenizer_dir is not set and base={config.base} holds no tokenizer.json; set "
                            f"tokenizer_dir to the tokenizer the base model was pretrained with")


def base_model_config(config: SFTConfig, key: str = "base") -> ModelConfig:
    """The ModelConfig of the checkpoint folder the config's `key` names; a missing or empty one fails here, naming
    the path and the command that writes such a folder (the config's `base_made_by`)."""
    path = getattr(config, key)
    folder = Path(path or "")
    if not path or not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        made_by = getattr(config, "base_made_by", TuneConfig.base_made_by)
        raise FileNotFoundError(f"{key}={path!r} ({folder.resolve()}) is not a mosslite checkpoint folder "
                                f"(config.json + model.safetensors); point it at {made_by}")
    return ModelConfig.load(folder / "config.json")


def checked_base(config: SFTConfig):
    """(model config, tokenizer, block size) of a fine-tuning run, every mismatch between the base, its tokenizer
    and the config caught before any data or model is built (SFT and alignment share it)."""
    model_config = base_model_config(config)
    tokenizer = resolve_tokenizer(config)
    if tokenizer.vocab_size > model_config.vocab_size:
        raise ValueError(f"the tokenizer has {tokenizer.vocab_size} tokens but base={config.base} embeds only "
                         f"{model_config.vocab_size}: tokenizer_dir must be the base's own tokenizer")
    block_size = config.block_size or model_config.block_size
    if block_size > model_config.block_size:
        raise ValueError(f"block_size={block_size} exceeds the base model's context of {model_config.block_size}")
    missing = [t for t in END_TOKENS.values() if t not in tokenizer.special_tokens]
    if missing:
        raise ValueError(f"the tokenizer lacks the chat end tokens {missing}; train it with MOSS_SPECIAL_TOKENS")
    return model_config, tokenizer, block_size


def sft(config: SFTConfig, resume: bool = False, callbacks: Sequence[L.Callback] = (),
        quiet: bool = False) -> SFTResult:
    """Fine-tune `config.base` on the configured conversations; returns the history and the exported final folder.

    Data, tokenizer and base are all checked before training starts. `callbacks` are added after mosslite's own;
    `resume=True` continues the run in `config.out_dir` from its newest checkpoint.
    """
    model_config, tokenizer, block_size = checked_base(config)
    data = SFTDataModule(config, tokenizer, block_size)
    module = SFTModule(model_config, config)
    out = Path(config.out_dir)
    world = config.devices * config.num_nodes
    tokens_per_step = data.report.mean_tokens * config.batch_size * config.grad_accum * world
    settings = {"rules": list(config.meta_instruction().rules), "world": config.world, "policy": config.policy}
    export = ExportFinal(out / "final", tokenizer, lora=config.finetune == "lora", settings=settings)
    history, last, wall_time = fit(module, data, config, resume=resume, callbacks=callbacks, quiet=quiet,
                                   flops_per_token=training_flops_per_token(model_config, block_size),
                                   tokens_per_step=tokens_per_step, extra=[lambda _: export])
    base_parameters = sum(p.numel() for name, p in module.model.named_parameters() if "lora_" not in name)
    return SFTResult(history, module, last, out / "final", wall_time, data.report,
                     trainable_parameters(module.model), base_parameters)
