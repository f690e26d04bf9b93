"""Core subcommands: `quickstart` (the whole pipeline at toy scale) and `info` (a preset's shape and size)."""

from __future__ import annotations

import argparse
import time

import torch

from mosslite.config import PRESETS, get_config
from mosslite.model import build_model
from mosslite.scaling import parameter_breakdown


def info(args: argparse.Namespace) -> int:
    config = get_config(args.preset)
    start = time.perf_counter()
    model = build_model(config, device="meta")
    built = time.perf_counter() - start
    total = model.num_parameters()
    print(f"preset {config.name}: {config.n_layer} layers, d_model {config.n_embd}, {config.n_head} heads "
          f"(head dim {config.head_dim}), context {config.block_size}, vocab {config.vocab_size}")
    print(f"parameters: {total:,} (built on the meta device in {built:.2f} s)")
    for role, count in parameter_breakdown(model).items():
        print(f"  {role:<10} {count:>16,}  {100 * count / total:5.1f}%")
    return 0


def quickstart(args: argparse.Namespace) -> int:
    """Build a toy model, show its size, and generate a few tokens: the pipeline grows as later stages land."""
    torch.manual_seed(args.seed)
    config = get_config("toy")
    model = build_model(config).eval()
    print(f"[model] toy preset: {model.num_parameters():,} parameters")
    prompt = torch.randint(0, config.vocab_size, (1, 8))
    with torch.inference_mode():
        cache = model.make_cache(1)
        logits = model(prompt, cache=cache)
        tokens = []
        for _ in range(args.new_tokens):
            nxt = logits[:, -1].argmax(-1, keepdim=True)
            tokens.append(int(nxt))
            logits = model(nxt, cache=cache)
    print(f"[generate] untrained toy model, greedy continuation of 8 random ids: {tokens}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("info", help="shape and parameter count of a model preset")
    p.add_argument("--preset", default="toy", choices=list(PRESETS))
    p.set_defaults(func=info)

    p = subparsers.add_parser("quickstart", help="run the whole pipeline at toy scale on a CPU")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--new-tokens", type=int, default=16)
    p.set_defaults(func=quickstart)
