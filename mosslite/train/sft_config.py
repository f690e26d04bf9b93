"""`SFTConfig`: every knob of an instruction-tuning run, loaded from YAML with `--key value` overrides, checked up front.

It shares the optimisation, hardware and cadence keys (and their meaning) with `PretrainConfig`, and the same loader:
an unknown key, a wrong type or an impossible value fails before anything is built, naming the key and the fix.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Literal

from mosslite.chat import COMPACT_META, MetaInstruction
from mosslite.data.world import WorldConfig
from mosslite.lora import DEFAULT_TARGETS
from mosslite.train.config import _coerce, config_from_dict, load_config

CHAT_SETTINGS = "chat.json"  # written beside a tuned model's weights: the meta-instruction rules and the world


@dataclass
class TuneConfig:
    """The keys every fine-tuning stage shares (SFT, and alignment in `mosslite.train.align_config`): the run, the
    world and chat format, what trains, optimisation, hardware and cadence. Each stage adds its own data keys."""

    config_kind: ClassVar[tuple[str, str]] = ("fine-tuning", "sft")  # for "no fine-tuning config at …" errors
    # what `base` should be and the command that makes one (for the missing-base error)
    base_made_by: ClassVar[str] = ("a pretraining run's final/ folder: `mosslite pretrain --config "
                                   "configs/pretrain/toy.yaml` writes runs/pretrain/toy/final")

    # ---- run
    name: str = "sft"
    out_dir: str = "runs/sft/toy"  # checkpoints, CSV + TensorBoard logs and the final (merged) weights go here
    seed: int = 1337  # fixes the data split, the batch order, LoRA's initial A and dropout
    base: str = ""  # a mosslite checkpoint folder (model.safetensors + config.json), e.g. runs/pretrain/toy/final
    tokenizer_dir: str | None = None  # the base's tokenizer; None = tokenizer.json inside `base`
    # ---- data shared by the stages: the world, its languages, bad JSONL records
    world: dict[str, Any] = field(default_factory=dict)  # WorldConfig fields: the SAME world the base saw
    world_languages: list[str] = field(default_factory=lambda: ["en", "zh"])
    on_bad_record: Literal["stop", "continue"] = "stop"  # a bad JSONL record stops the run, or is reported and left out
    meta: Literal["default", "compact"] = "default"  # the meta instruction of world/chatterbot dialogues
    policy: Literal["assistant", "moss"] = "assistant"  # which tokens carry loss (mosslite.chat.trains)
    block_size: int | None = None  # tokens per training sequence; None = the base model's context
    val_fraction: float = 0.05  # conversations held out for the validation loss
    # ---- what trains
    finetune: Literal["full", "lora"] = "full"
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    lora_targets: list[str] = field(default_factory=lambda: list(DEFAULT_TARGETS))
    # ---- optimisation (as in PretrainConfig): AdamW, linear warmup then cosine decay to min_lr
    batch_size: int = 16  # conversations per device per micro-step
    grad_accum: int = 1
    max_steps: int = 300
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 20
    weight_decay: float = 0.0  # a short fine-tune stays near the base; decay would only pull it elsewhere
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    # ---- hardware (as in PretrainConfig)
    accelerator: Literal["auto", "cpu", "gpu", "cuda", "mps"] = "auto"
    devices: int = 1
    num_nodes: int = 1
    strategy: Literal["auto", "ddp", "fsdp"] = "auto"
    precision: Literal["32-true", "bf16-mixed", "16-mixed", "bf16-true"] = "32-true"
    compile: bool = False
    activation_checkpointing: bool = False
    peak_flops: float | None = None
    # ---- cadence (in optimizer steps)
    log_every: int = 10
    val_every: int = 50
    val_batches: int = 4
    ckpt_every: int = 500
    keep_checkpoints: int = 1
    progress_bar: bool = True

    @property
    def meta_init(self) -> bool:
        """Under FSDP the model is built on the meta device, sharded, and each rank reads only its rows of the base
        (`load_into_shards`): no process ever holds a whole copy of a 16B model's weights."""
        return self.strategy == "fsdp"

    def __post_init__(self) -> None:
        """Check values that types alone cannot; raise ValueError naming the key and the fix."""
        positive = ("batch_size", "grad_accum", "max_steps", "devices", "num_nodes", "log_every", "val_every",
                    "val_batches", "ckpt_every", "keep_checkpoints", "lora_rank")
        for key in positive:
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be at least 1, got {getattr(self, key)}")
        for key in ("min_lr", "weight_decay", "grad_clip", "warmup_steps", "lora_dropout"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key} must not be negative, got {getattr(self, key)}")
        if self.lr <= 0 or self.min_lr > self.lr:
            raise ValueError(f"need 0 < min_lr <= lr, got lr={self.lr}, min_lr={self.min_lr}")
        if self.warmup_steps >= self.max_steps:
            raise ValueError(f"warmup_steps={self.warmup_steps} must be below max_steps={self.max_steps}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction={self.val_fraction} must be in [0, 1)")
        if self.block_size is not None and self.block_size < 2:
            raise ValueError(f"block_size={self.block_size} must be at least 2 (or null for the base's context)")
        _check_languages(self, "world_languages")
        if self.finetune == "lora" and self.strategy == "fsdp":
            raise ValueError("finetune=lora with strategy=fsdp is not supported: LoRA's few trainable weights "
                             "need no sharding; use strategy=ddp (or auto)")
        self.world_config()  # checks the world keys

    def world_config(self) -> WorldConfig:
        """The `WorldConfig` of `world` (lists become tuples); unknown keys are errors naming `world.<key>`."""
        import typing

        hints = typing.get_type_hints(WorldConfig)
        names = {f.name for f in fields(WorldConfig)}
        unknown = sorted(set(self.world) - names)
        if unknown:
            raise ValueError(f"unknown key(s) {[f'world.{k}' for k in unknown]}; world takes the fields of "
                             f"WorldConfig: {', '.join(sorted(names))}")
        args = {}
        for key, value in self.world.items():
            value = tuple(value) if isinstance(value, list) else value
            args[key] = value if typing.get_origin(hints[key]) is tuple else _coerce(f"world.{key}", value, hints[key])
        return WorldConfig(**args)

    def meta_instruction(self, tools: tuple[str, ...] = ()) -> MetaInstruction:
        """The meta instruction put on generated dialogues: mosslite's full one, or the compact one for toy contexts."""
        rules = COMPACT_META.rules if self.meta == "compact" else MetaInstruction().rules
        return MetaInstruction(rules=rules, tools=tools)

    def to_dict(self) -> dict:
        return asdict(self)


def _check_languages(config, key: str) -> None:
    bad = [v for v in getattr(config, key) if v not in ("en", "zh")]
    if bad:
        raise ValueError(f"{key} has {bad}; use any of ['en', 'zh']")


@dataclass
class SFTConfig(TuneConfig):
    """Instruction tuning: `TuneConfig` plus the conversations to train on, from up to three sources."""

    world_dialogues: int = 2000  # dialogues from World.dialogues (group-A facts only); 0 = none
    world_kinds: list[str] = field(default_factory=lambda: ["fact"])  # see World.dialogues: fact, search, …
    chatterbot: list[str] = field(default_factory=list)  # chatterbot-corpus languages to add: [en, zh]; [] = none
    jsonl: list[str] = field(default_factory=list)  # files in the moss-003-sft-data layout

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.world_dialogues < 0:
            raise ValueError(f"world_dialogues must not be negative, got {self.world_dialogues}")
        _check_languages(self, "chatterbot")
        if not (self.world_dialogues or self.chatterbot or self.jsonl):
            raise ValueError("no training data: set world_dialogues > 0, chatterbot: [en, zh] or jsonl: [file]")


def load_sft_config(path: str | Path | None = None, overrides: list[str] | dict | None = None) -> SFTConfig:
    """An `SFTConfig` from a YAML file (None: the defaults) with `--key value` overrides applied."""
    return load_config(path, overrides, cls=SFTConfig)


def sft_config_from_dict(data: dict, source: str = "config") -> SFTConfig:
    return config_from_dict(data, source, cls=SFTConfig)
