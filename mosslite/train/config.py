"""`PretrainConfig`: every knob of a pretraining run, loaded from YAML with `--key value` overrides and checked up front.

A typo or a wrong type should cost a second, not an hour of training: unknown keys, wrong types and a vocabulary that
disagrees with the tokenizer are reported before anything is built, naming the key, the file and the fix.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import yaml

from mosslite.config import PRESETS, ModelConfig, get_config


@dataclass
class PretrainConfig:
    # ---- run
    name: str = "toy"
    out_dir: str = "runs/pretrain/toy"  # checkpoints, CSV + TensorBoard logs and the final weights go here
    seed: int = 1337  # fixes the initial weights, the data order and dropout: equal seeds give equal runs
    # ---- model
    model: str = "toy"  # a preset from mosslite.config.PRESETS
    model_args: dict[str, Any] = field(default_factory=dict)  # ModelConfig fields that differ from the preset
    # ---- data
    data_dir: str = ""  # a folder written by mosslite.data.pack: train.bin, val.bin, meta.json
    tokenizer_dir: str | None = None  # checks the vocabulary against the model's and decodes the samples
    block_size: int | None = None  # training context in tokens; None = the model's block_size
    batch_size: int = 16  # sequences per device per micro-step
    grad_accum: int = 1  # micro-steps per optimizer step: global batch = batch_size · grad_accum · devices
    # ---- optimisation: AdamW, linear warmup then cosine decay to min_lr
    max_steps: int = 1000
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1  # on matmul weights only; norms, biases and embeddings get none
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0  # max global gradient norm; 0 turns clipping off
    # ---- hardware
    accelerator: Literal["auto", "cpu", "gpu", "cuda", "mps"] = "auto"
    devices: int = 1  # processes per node
    num_nodes: int = 1
    strategy: Literal["auto", "ddp", "fsdp"] = "auto"  # fsdp = FSDP2 (fully_shard) through ModelParallelStrategy
    precision: Literal["32-true", "bf16-mixed", "16-mixed", "bf16-true"] = "32-true"
    compile: bool = False  # torch.compile each block (needs a C++ compiler on CPU)
    activation_checkpointing: bool = False  # recompute each block in the backward pass: less memory, ~1/3 more compute
    meta_init: bool = False  # build on the meta device and initialise the shards in place (models too big for one RAM)
    peak_flops: float | None = None  # per device, for MFU; None = measured (CPU) or looked up (known GPUs)
    device_memory_gb: float | None = None  # GB per device the recipe is sized for (`mosslite plan --config`)
    # ---- cadence (in optimizer steps)
    log_every: int = 10
    val_every: int = 100
    val_batches: int = 20  # batches of batch_size sequences per device, the same ones at every evaluation
    ckpt_every: int = 500
    keep_checkpoints: int = 2  # older step checkpoints are deleted once a newer one is safely written
    sample_every: int = 0  # 0 = no samples
    sample_prompt: str = "The"
    sample_tokens: int = 48
    progress_bar: bool = True

    def __post_init__(self) -> None:
        """Check values that types alone cannot; raise ValueError naming the key and the fix."""
        if self.model not in PRESETS:
            raise ValueError(f"model={self.model!r} is not a preset; choose one of {', '.join(PRESETS)}")
        positive = ("batch_size", "grad_accum", "max_steps", "devices", "num_nodes", "log_every", "val_every",
                    "val_batches", "ckpt_every", "keep_checkpoints", "sample_tokens")
        for key in positive:
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be at least 1, got {getattr(self, key)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        for key in ("min_lr", "weight_decay", "grad_clip", "warmup_steps", "sample_every"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key} must not be negative, got {getattr(self, key)}")
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr={self.min_lr} is above lr={self.lr}; the cosine decays lr to min_lr")
        if self.warmup_steps >= self.max_steps:
            raise ValueError(f"warmup_steps={self.warmup_steps} must be below max_steps={self.max_steps}")
        if self.strategy == "fsdp" and self.precision == "16-mixed":
            raise ValueError("precision=16-mixed does not work with strategy=fsdp (Lightning's ModelParallelStrategy "
                             "has no fp16 loss scaling); use bf16-mixed")
        model = self.model_config()  # checks model_args
        if self.block_size is not None and not 1 < self.block_size <= model.block_size:
            raise ValueError(f"block_size={self.block_size} must be in 2..{model.block_size} "
                             f"(the model's context); raise model_args.block_size to train on longer windows")

    def model_config(self, vocab_size: int | None = None) -> ModelConfig:
        """The preset with `model_args` applied; the vocabulary follows the tokenizer's unless model_args sets it."""
        unknown = sorted(set(self.model_args) - {f.name for f in fields(ModelConfig)})
        if unknown:
            names = [f"model_args.{k}" for k in unknown]
            raise ValueError(f"unknown key(s) {names}; model_args takes the fields of ModelConfig: "
                             f"{', '.join(f.name for f in fields(ModelConfig))}")
        hints = typing.get_type_hints(ModelConfig)
        args = {k: _coerce(f"model_args.{k}", v, hints[k]) for k, v in self.model_args.items()}
        if vocab_size is not None and args.setdefault("vocab_size", vocab_size) != vocab_size:
            raise ValueError(f"model_args.vocab_size={args['vocab_size']} differs from the tokenizer's vocabulary "
                             f"of {vocab_size}; remove model_args.vocab_size (it then follows the tokenizer) or "
                             f"set it to {vocab_size}")
        return get_config(self.model, **args)

    @property
    def context(self) -> int:
        """Tokens per training sequence."""
        return self.block_size or self.model_config().block_size

    def to_dict(self) -> dict:
        return asdict(self)


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """`value` checked against the type annotation `hint`; ints pass as floats and strings like "3e-4" as numbers."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(key, value, option)
            except ValueError:
                continue
    elif origin is Literal:
        if value in args:
            return value
        raise ValueError(f"{key}={value!r} is not one of {list(args)}")
    elif origin is dict:
        if isinstance(value, dict):
            return value
    elif origin in (list, tuple):
        if isinstance(value, (list, tuple)):
            return [_coerce(f"{key}[{i}]", v, args[0]) for i, v in enumerate(value)]
    elif hint is Any:
        return value
    elif hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "3e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif hint is str:
        if isinstance(value, str):
            return value
    name = getattr(hint, "__name__", str(hint).replace("typing.", ""))
    raise ValueError(f"{key}={value!r} should be of type {name}, not {type(value).__name__}")


def config_from_dict(data: dict, source: str = "config", cls: type = PretrainConfig):
    """A checked config of dataclass `cls` (default `PretrainConfig`) from a plain dict (a parsed YAML file with
    overrides applied). `SFTConfig` uses the same checks."""
    all_hints = typing.get_type_hints(cls)
    hints = {f.name: all_hints[f.name] for f in fields(cls)}  # fields only: a ClassVar is not a key
    try:
        for key in sorted(set(data) - set(hints)):
            close = difflib.get_close_matches(key, hints, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"valid keys are {', '.join(hints)}"
            raise ValueError(f"unknown key {key!r}; {hint}")
        return cls(**{key: _coerce(key, value, hints[key]) for key, value in data.items()})
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from None


def parse_overrides(argv: list[str]) -> dict[str, Any]:
    """`["--lr", "3e-4", "--model_args.n_layer=4"]` -> `{"lr": 3e-4, "model_args": {"n_layer": 4}}`.

    Values are read as YAML scalars, so numbers, booleans and `null` need no quoting.
    """
    out: dict[str, Any] = {}
    items = list(argv)
    while items:
        flag = items.pop(0)
        if not flag.startswith("--") or len(flag) == 2:
            raise ValueError(f"override {flag!r} should look like --key value or --key=value")
        key, eq, raw = flag[2:].partition("=")
        if not eq:
            if not items:
                raise ValueError(f"override --{key} has no value; write --{key} VALUE")
            raw = items.pop(0)
        value = yaml.safe_load(raw) if raw else ""
        section, dot, sub = key.partition(".")
        if dot:
            out.setdefault(section, {})[sub] = value
        else:
            out[key] = value
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | dict | None = None,
                cls: type = PretrainConfig):
    """The config in a YAML file (or the defaults when `path` is None) with command-line style overrides applied;
    `cls` is the config dataclass (`PretrainConfig`, or `SFTConfig` for fine-tuning)."""
    data: dict = {}
    source = "config"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            kind, folder = getattr(cls, "config_kind", ("pretraining", "pretrain"))
            raise FileNotFoundError(f"no {kind} config at {path}; the shipped ones are in configs/{folder}/")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ValueError(f"{path} is not valid YAML: {err}") from err
        if not isinstance(data, dict):
            raise ValueError(f"{path} should hold a mapping of keys to values, not a {type(data).__name__}")
    extra = parse_overrides(overrides) if isinstance(overrides, list) else dict(overrides or {})
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return config_from_dict(data, source=source + (" with overrides" if extra else ""), cls=cls)


def replace(config, **changes):
    """A checked copy with some keys changed, e.g. `replace(config, max_steps=50)` (any config dataclass)."""
    return config_from_dict({**config.to_dict(), **changes}, source="replace()", cls=type(config))

