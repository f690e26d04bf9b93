"""One AdamW step on the `tiny` model: the per-tensor loop vs foreach vs fused, with the same parameter groups.

A small model's step is dominated by fixed costs; the optimizer touches every tensor once per step, so how it loops
over them matters. Run: `.venv/bin/python benchmarks/optimizer_step.py [--preset tiny] [--threads 2]`.
"""

from __future__ import annotations

import argparse
import time

import torch

from mosslite.config import get_config
from mosslite.model import build_model
from mosslite.train.module import param_groups


def seconds_per_step(preset: str, repeats: int = 5, steps: int = 50, **adamw) -> float:
    """Best mean time of `steps` AdamW steps over `repeats` rounds, on random gradients."""
    torch.manual_seed(0)
    model = build_model(get_config(preset, vocab_size=4096))
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    optimizer = torch.optim.AdamW(param_groups(model, 0.1), lr=1e-3, **adamw)
    for _ in range(5):  # warm up: the optimizer states are created on the first step
        optimizer.step()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            optimizer.step()
        best = min(best, (time.perf_counter() - start) / steps)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    variants = {"per-tensor loop": dict(foreach=False), "foreach": dict(foreach=True), "fused": dict(fused=True)}
    times = {name: seconds_per_step(args.preset, **kw) for name, kw in variants.items()}
    print(f"| AdamW on {args.preset} | ms/step | fused is faster by |\n|---|---:|---:|")
    for name, t in times.items():
        print(f"| {name} | {t * 1e3:.2f} | {t / times['fused']:.1f}x |")


if __name__ == "__main__":
    main()
