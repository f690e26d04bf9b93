"""`AlignConfig`: the knobs of a preference-tuning (DPO) run: every fine-tuning key of `TuneConfig` (run, world, what
trains, optimisation, hardware, cadence) plus the reference model, β and the preference pairs, checked up front."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from mosslite.data.preference import PAIR_KINDS
from mosslite.train.config import config_from_dict, load_config
from mosslite.train.sft_config import TuneConfig


@dataclass
class AlignConfig(TuneConfig):
    """DPO on `{"prompt", "chosen", "rejected"}` pairs; `base` is the SFT model the policy starts from."""

    config_kind: ClassVar[tuple[str, str]] = ("alignment", "align")
    base_made_by: ClassVar[str] = ("an SFT run's final/ folder: `mosslite sft --config configs/sft/tiny.yaml` "
                                   "writes runs/sft/tiny/final")

    name: str = "align"
    out_dir: str = "runs/align/toy"
    reference: str | None = None  # the frozen reference model's checkpoint folder; None = `base` (the usual choice)
    beta: float = 0.1  # how far the policy may move from the reference: small β = the margin matters more
    # weight of an SFT term, the chosen answer's mean token negative log-likelihood, added to DPO's loss (as RPO
    # does): DPO alone can win by making both answers unlikely; this keeps the chosen one likely. 0 = plain DPO
    sft_weight: float = 0.0
    world_pairs: int = 0  # pairs generated from the world (mosslite.data.preference.world_pairs); 0 = none
    pair_kinds: list[str] = field(default_factory=lambda: ["known", "unknown", "heldout"])
    pairs: list[str] = field(default_factory=list)  # JSONL files of {prompt, chosen, rejected} (the flywheel's export)
    # DPO moves a policy that is already good: a small rate, and few steps
    batch_size: int = 8  # pairs per device per micro-step (each is two sequences)
    max_steps: int = 100
    lr: float = 1e-5
    min_lr: float = 1e-6
    warmup_steps: int = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.beta <= 0:
            raise ValueError(f"beta must be positive, got {self.beta} (DPO's loss is flat at beta=0)")
        if self.sft_weight < 0:
            raise ValueError(f"sft_weight must not be negative, got {self.sft_weight}")
        if self.world_pairs < 0:
            raise ValueError(f"world_pairs must not be negative, got {self.world_pairs}")
        bad = [k for k in self.pair_kinds if k not in PAIR_KINDS]
        if bad or (self.world_pairs and not self.pair_kinds):
            raise ValueError(f"pair_kinds has {bad or '[]'}; use any of {list(PAIR_KINDS)}")
        if not (self.world_pairs or self.pairs):
            raise ValueError("no preference data: set world_pairs > 0 or pairs: [file.jsonl]")
        if self.strategy == "fsdp":
            raise ValueError("strategy=fsdp is not supported for alignment: the frozen reference model is not "
                             "sharded; use strategy=ddp (or auto)")


def align_config_from_dict(data: dict, source: str = "config") -> AlignConfig:
    return config_from_dict(data, source, cls=AlignConfig)


def load_align_config(path: str | Path | None = None, overrides: list[str] | dict | None = None) -> AlignConfig:
    """An `AlignConfig` from a YAML file (None: the defaults) with `--key value` overrides applied."""
    return load_config(path, overrides, cls=AlignConfig)
