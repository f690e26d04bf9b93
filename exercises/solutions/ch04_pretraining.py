"""Reference solutions for chapter 4 (the library's versions live in mosslite/train/module.py)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from mosslite.model import RMSNorm, lm_loss


def cosine_lr(step: int, lr: float, min_lr: float, warmup_steps: int, max_steps: int) -> float:
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    if step >= max_steps:
        return min_lr
    progress = (step - warmup_steps) / (max_steps - warmup_steps)
    return min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (lr - min_lr)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay, seen = [], [], set()
    for _, module in model.named_modules():
        for name, param in module.named_parameters(recurse=False):
            if id(param) in seen:
                continue
            seen.add(id(param))
            skip = isinstance(module, (nn.LayerNorm, RMSNorm, nn.Embedding)) or name == "bias"
            (no_decay if skip else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def training_step(model: nn.Module, optimizer: torch.optim.Optimizer, micro_batches: list[tuple[Tensor, Tensor]],
                  grad_clip: float) -> float:
    total = 0.0
    for x, y in micro_batches:
        loss = lm_loss(model(x), y)
        (loss / len(micro_batches)).backward()  # gradients of the mean over all micro-batches
        total += loss.item()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return total / len(micro_batches)
