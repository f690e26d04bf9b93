"""Helpers for the fine-tuning and chat tests: a small BPE with the chat tokens, a toy base checkpoint, a scripted
token stream that plays a model, and a fast SFT config."""

from __future__ import annotations

from pathlib import Path

import torch

from mosslite.chat import HEADERS
from mosslite.checkpoint import save_checkpoint
from mosslite.config import get_config
from mosslite.data.world import World, WorldConfig
from mosslite.model import build_model
from mosslite.tokenizer import train_tokenizer

WORLD = {"n_entities": 12, "zh_share": 0.05, "heldout": 0.0}


def make_base(folder: Path, vocab_size: int = 400, block_size: int = 512) -> tuple[Path, Path]:
    """(base checkpoint folder, tokenizer folder): a BPE trained on a small world and a randomly initialised toy."""
    docs = [d.text for d in World(WorldConfig(**WORLD)).documents()]
    tokenizer = train_tokenizer(docs, vocab_size=vocab_size)
    tokenizer.save(folder / "tokenizer")
    torch.manual_seed(0)
    model = build_model(get_config("toy", vocab_size=tokenizer.vocab_size, block_size=block_size))
    save_checkpoint(model, folder / "base")
    return folder / "base", folder / "tokenizer"


def sft_settings(base: Path, tokenizer: Path, out: Path, **changes) -> dict:
    """A fine-tuning run of a few seconds on world dialogues (compact meta instruction, short context)."""
    return {"base": str(base), "tokenizer_dir": str(tokenizer), "out_dir": str(out), "world": WORLD,
            "world_dialogues": 120, "meta": "compact", "max_steps": 12, "warmup_steps": 2, "batch_size": 8,
            "lr": 3e-3, "min_lr": 3e-4, "val_every": 6, "val_batches": 2, "val_fraction": 0.2, "log_every": 1,
            "ckpt_every": 6, "peak_flops": 1e11, "progress_bar": False, **changes}


def scripted_stream(tokenizer, answers: dict[str, str]):
    """A `token_stream` for `Assistant` that writes `answers[field]` + the field's end token, whatever the model:
    the field is read off the header the prompt ends with. Records every prompt it was given."""
    ends = {"inner_thoughts": "<eot>", "commands": "<eoc>", "moss": "<eom>"}

    def stream(model, prompt, max_new_tokens, **kwargs):
        text = tokenizer.decode(prompt)
        stream.prompts.append(text)
        field = next(name for name in ends if text.endswith(HEADERS[name]))
        ids = tokenizer.encode(" " + answers[field]) + [tokenizer.special_tokens[ends[field]]]
        yield from ids[:max_new_tokens]

    stream.prompts = []
    return stream
