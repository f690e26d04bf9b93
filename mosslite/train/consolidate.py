"""Sharded checkpoints, both ways: `mosslite consolidate` joins a training checkpoint (sharded or not) into one
mosslite checkpoint and a Hugging Face folder; `load_into_shards` splits one mosslite checkpoint into a sharded model.

FSDP2 saves a checkpoint as a folder: one `__R_0.distcp` file per rank, a `.metadata` index of which slice of which
tensor sits where, and Lightning's `meta.pt` (step, hyperparameters). Reading it back needs no process group and no
GPU: only the model's tensors are read (not the optimizer's moments, twice as large), each straight into a full tensor
of the chosen dtype, so consolidating MOSS-16B in bf16 needs about 34 GB of RAM on one machine.

    mosslite consolidate runs/pretrain/moss-16b runs/moss-16b-step100k --dtype bfloat16 --hf runs/moss-16b-hf
"""

from __future__ import annotations

import argparse
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from mosslite.checkpoint import WEIGHTS_NAME, save_checkpoint
from mosslite.config import ModelConfig
from mosslite.model import Transformer, build_model

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
MODEL_PREFIX = "model."  # PretrainModule keeps the Transformer as `self.model`
META_FILE = "meta.pt"  # Lightning's non-tensor state next to the shards
INDEX_FILE = ".metadata"  # torch.distributed.checkpoint's index of the shards


@dataclass
class TrainingCheckpoint:
    """What consolidation reads from a training checkpoint: the full weights, the model config and the step."""

    path: Path
    config: ModelConfig
    state: dict[str, Tensor]  # mosslite names (no "model." prefix), full tensors on the CPU
    step: int
    sharded: bool


def resolve_checkpoint(path: str | Path) -> Path:
    """A sharded checkpoint folder or a .ckpt file as given, or the newest checkpoint of a run (or its checkpoints/)."""
    from mosslite.train.callbacks import Checkpointer

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if path.is_file() or (path / INDEX_FILE).is_file():
        return path
    if path.name.startswith(".") and path.name.endswith(".tmp"):
        raise ValueError(f"{path} is a checkpoint whose save never finished (the run died while writing it); "
                         f"use the step-*.ckpt next to it")
    for folder in (path / "checkpoints", path):
        latest = Checkpointer.latest(folder)
        if latest is not None:
            return latest
    shards = sorted(p.name for p in path.glob("*.distcp"))
    if shards:
        raise FileNotFoundError(f"{path} holds shards ({', '.join(shards[:4])}) but no {INDEX_FILE} index: the save "
                                f"did not finish, or the folder was copied without its hidden files (cp -r dir/. …)")
    raise FileNotFoundError(f"{path} is not a training checkpoint: expected a folder with {INDEX_FILE} and *.distcp "
                            f"shards (FSDP), a .ckpt file (one device or DDP), or a run folder with checkpoints/")


def check_shards(folder: Path) -> None:
    """Every shard file the index names is present and long enough; otherwise say which are missing or cut short."""
    from torch.distributed.checkpoint import FileSystemReader

    metadata = FileSystemReader(str(folder)).read_metadata()
    needed: dict[str, int] = {}  # file -> bytes the index says it holds
    for info in metadata.storage_data.values():
        needed[info.relative_path] = max(needed.get(info.relative_path, 0), info.offset + info.length)
    missing = sorted(name for name in needed if not (folder / name).is_file())
    if missing:
        raise FileNotFoundError(f"{folder}: {len(missing)} of {len(needed)} shard files are missing "
                                f"({', '.join(missing)}); a sharded checkpoint needs the file of every rank: copy "
                                f"them all from the training machines into one folder")
    short = sorted(f"{name} ({os.path.getsize(folder / name):,} of {size:,} bytes)" for name, size in needed.items()
                   if os.path.getsize(folder / name) < size)
    if short:
        raise ValueError(f"{folder}: shard files are truncated: {', '.join(short)}; copy them again")
    if not (folder / META_FILE).is_file():
        raise FileNotFoundError(f"{folder}: no {META_FILE} (Lightning's step and hyperparameters, which hold the "
                                f"model config); copy it from the run's checkpoint folder")


def _model_config(hparams: dict, source: Path) -> ModelConfig:
    if "model_config" not in hparams:
        raise ValueError(f"{source}: no model_config in the checkpoint's hyperparameters; was it written by "
                         f"`mosslite pretrain`?")
    return ModelConfig.from_dict(hparams["model_config"], source=str(source))


def _read_sharded(folder: Path, dtype: torch.dtype | None) -> tuple[dict, dict[str, Tensor]]:
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint import FileSystemReader

    check_shards(folder)
    meta = torch.load(folder / META_FILE, map_location="cpu", weights_only=True)
    reader = FileSystemReader(str(folder))
    prefix = "state_dict." + MODEL_PREFIX  # DCP flattens the nested {"state_dict": {"model.x": …}}
    # Empty full-size tensors to read into: DCP fills each from every rank's slice, casting to their dtype.
    state = {key[len("state_dict."):]: torch.empty(m.size, dtype=dtype or m.properties.dtype)
             for key, m in reader.read_metadata().state_dict_metadata.items() if key.startswith(prefix)}
    if not state:
        raise ValueError(f"{folder}: the index lists no model tensors (names starting {prefix!r})")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        dcp.load({"state_dict": state}, storage_reader=reader, no_dist=True)
    return meta, state


def read_training_checkpoint(path: str | Path, dtype: torch.dtype | None = None) -> TrainingCheckpoint:
    """The full model weights of a `mosslite pretrain` checkpoint, sharded (a folder) or not (a .ckpt file)."""
    path = resolve_checkpoint(path)
    if path.is_dir():
        meta, state = _read_sharded(path, dtype)
    else:
        meta = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        state = {k: (v.to(dtype) if dtype and v.is_floating_point() else v) for k, v in meta.pop("state_dict").items()}
    config = _model_config(meta.get("hyper_parameters", {}), path)
    weights = {k[len(MODEL_PREFIX):]: v for k, v in state.items() if k.startswith(MODEL_PREFIX)}
    return TrainingCheckpoint(path, config, weights, int(meta.get("global_step", 0)), path.is_dir())


def model_from_state(config: ModelConfig, state: dict[str, Tensor], source: str) -> Transformer:
    """A Transformer that adopts `state`'s tensors (no copy, no random init), refusing missing or unknown names."""
    model = build_model(config, device="meta")
    state = dict(state)
    if config.tie_embeddings:
        state.pop("lm_head.weight", None)  # the embedding table again
    result = model.load_state_dict(state, strict=False, assign=True)
    missing = [k for k in result.missing_keys if not (config.tie_embeddings and k == "lm_head.weight")]
    if missing or result.unexpected_keys:
        raise ValueError(f"{source} does not fit its model config {config.name!r}: missing {missing[:8]}, "
                         f"unexpected {result.unexpected_keys[:8]}")
    if config.tie_embeddings:
        model.lm_head.weight = model.tok_emb.weight
    return model.eval()


def consolidate(path: str | Path, out_dir: str | Path, dtype: torch.dtype | None = None,
                hf_dir: str | Path | None = None, family: str | None = None) -> TrainingCheckpoint:
    """Write the checkpoint at `path` as a mosslite checkpoint in `out_dir` and, with `hf_dir`, a Hugging Face folder."""
    ckpt = read_training_checkpoint(path, dtype)
    model = model_from_state(ckpt.config, ckpt.state, str(ckpt.path))
    save_checkpoint(model, out_dir, extra={"step": ckpt.step, "consolidated_from": str(ckpt.path)})
    if hf_dir is not None:
        from mosslite.interop import export_hf

        export_hf(model, hf_dir, family)
    return ckpt


@torch.no_grad()
def load_into_shards(model: Transformer, directory: str | Path) -> None:
    """Fill `model` from the mosslite checkpoint in `directory`, each process reading only the rows of each tensor
    that its FSDP2 shard holds (safetensors reads slices), so no process ever holds the whole model.

    The model must have memory already: built on the meta device, sharded with `fully_shard`, then `to_empty`. This
    is how a sharded run starts from MOSS's 16.7B weights without 8 copies of them in every node's RAM; unsharded
    parameters are read whole. Weights are cast to the model's dtype.
    """
    from safetensors import safe_open
    from torch.distributed.tensor import DTensor, Shard

    path = Path(directory) / WEIGHTS_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no {WEIGHTS_NAME} in {directory}: expected a mosslite checkpoint folder")
    with safe_open(str(path), framework="pt") as f:
        stored = set(f.keys())
        missing = [name for name, _ in model.named_parameters() if name not in stored]
        if missing:
            raise ValueError(f"{path} lacks {len(missing)} of the model's tensors: {missing[:8]}")
        for name, param in model.named_parameters():  # a tied head is named once, as the embedding
            if not isinstance(param, DTensor):
                param.copy_(f.get_tensor(name))
                continue
            if list(param.placements) != [Shard(0)]:
                raise ValueError(f"{name}: placements {param.placements}; only FSDP's row sharding is supported")
            local = param.to_local()
            rows = -(-param.shape[0] // param.device_mesh.size())  # FSDP2 splits rows like torch.chunk
            start = param.device_mesh.get_local_rank() * rows
            if local.shape[0]:
                local.copy_(f.get_slice(name)[start : start + local.shape[0]])


def run(args: argparse.Namespace) -> int:
    ckpt = consolidate(args.checkpoint, args.out_dir, DTYPES[args.dtype] if args.dtype else None, args.hf,
                       args.family)
    count = sum(t.numel() for t in ckpt.state.values())
    kind = "sharded" if ckpt.sharded else "single-file"
    print(f"[consolidate] {kind} checkpoint {ckpt.path} (step {ckpt.step}, {count:,} numbers) -> mosslite "
          f"checkpoint {args.out_dir}" + (f" and Hugging Face folder {args.hf}" if args.hf else ""))
    return 0


def register(subparsers) -> None:
    from mosslite.interop import FAMILIES

    p = subparsers.add_parser("consolidate", help="sharded (FSDP) training checkpoint -> mosslite checkpoint [+ HF]",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path,
                   help="a sharded checkpoint folder, a .ckpt file, or a run folder (its newest checkpoint)")
    p.add_argument("out_dir", type=Path, help="where to write model.safetensors + config.json")
    p.add_argument("--dtype", choices=list(DTYPES), help="default: as trained (fp32 master weights)")
    p.add_argument("--hf", type=Path, help="also export a Hugging Face folder here")
    p.add_argument("--family", choices=FAMILIES, help="HF architecture for --hf (default: inferred from the config)")
    p.set_defaults(func=run)
