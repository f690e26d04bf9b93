"""Checkpoints: `model.safetensors` + `config.json` in a folder, written atomically, loaded with checks.

safetensors holds only tensors (no code runs on load), so it is the default; torch pickles are read with
`weights_only=True` for the same reason.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from mosslite.config import ModelConfig
from mosslite.fileio import atomic_write
from mosslite.model import Transformer, build_model

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


def save_checkpoint(model: Transformer, directory: str | Path, extra: dict | None = None) -> Path:
    """Write the model's weights and config to `directory` (created if needed); returns the directory."""
    directory = Path(directory)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    if model.config.tie_embeddings:
        state.pop("lm_head.weight")  # the same tensor as tok_emb.weight; safetensors refuses shared storage
    metadata = {"format": "mosslite", **{k: json.dumps(v) for k, v in (extra or {}).items()}}
    atomic_write(directory / WEIGHTS_NAME, lambda tmp: save_file(state, str(tmp), metadata=metadata))
    atomic_write(directory / CONFIG_NAME, lambda tmp: model.config.save(tmp))
    return directory


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors from a .safetensors file or a torch pickle (.bin/.pt/.pth, loaded with weights_only=True)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}")
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        return torch.load(path, map_location="cpu", weights_only=True)
    except (SafetensorError, pickle.UnpicklingError, RuntimeError, OSError, EOFError) as err:
        raise ValueError(f"{path} is not a readable checkpoint (truncated or corrupt?): {err}") from err


def check_state(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], heading: str) -> None:
    """Fail with one message naming every missing, unexpected and wrongly shaped tensor (the first 8 of each)."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = sorted(f"{k}: {tuple(state[k].shape)}, expected {tuple(v.shape)}"
                        for k, v in expected.items() if k in state and state[k].shape != v.shape)
    if missing or unexpected or mismatched:
        lines = [heading]
        for label, names in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", mismatched)):
            if names:
                shown = ", ".join(names[:8]) + (f" … ({len(names)} in all)" if len(names) > 8 else "")
                lines.append(f"  {label}: {shown}")
        raise ValueError("\n".join(lines))


def load_state(model: Transformer, state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Copy `state` into `model`, failing with the names of missing, unexpected and mismatched tensors."""
    expected = model.state_dict()
    if model.config.tie_embeddings:
        expected.pop("lm_head.weight")
        state = {k: v for k, v in state.items() if k != "lm_head.weight"}
    check_state(state, expected, f"{source} does not fit the model config {model.config.name!r}:")
    model.load_state_dict(state, strict=False)  # strict checks done above; a tied head is filled by tok_emb


def load_checkpoint(directory: str | Path, config: ModelConfig | None = None,
                    device: str | torch.device = "cpu") -> Transformer:
    """The model saved in `directory`; pass `config` to load into a different (but compatible) config."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"no checkpoint folder at {directory}")
    config = config or ModelConfig.load(directory / CONFIG_NAME)
    model = build_model(config, device=device)
    load_state(model, read_weights(directory / WEIGHTS_NAME), source=str(directory / WEIGHTS_NAME))
    return model
