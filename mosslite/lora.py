"""LoRA: fine-tune a frozen model through small low-rank updates, W x + (B A x)·(alpha/r), then fold them back in.

Only A and B train (r·(d_in + d_out) numbers per layer instead of d_in·d_out), which is why LoRA fits a big model's
fine-tuning into memory that full fine-tuning would exhaust. B starts at zero, so training starts from the base model.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class LoRALinear(nn.Module):
    """A frozen nn.Linear plus a trainable low-rank update; `merge()` returns a plain nn.Linear with it folded in."""

    def __init__(self, base: nn.Linear, rank: int = 8, alpha: float = 16.0, dropout: float = 0.0) -> None:
        super().__init__()
        if rank < 1:
            raise ValueError(f"LoRA rank must be at least 1, got {rank}")
        self.base = base.requires_grad_(False)
        self.scale = alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features, device=base.weight.device))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank, device=base.weight.device))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))  # as nn.Linear initialises its own weight
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.base(x) + (self.drop(x) @ self.lora_a.T @ self.lora_b.T) * self.scale

    @torch.no_grad()
    def merge(self) -> nn.Linear:
        merged = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None,
                           device=self.base.weight.device, dtype=self.base.weight.dtype)
        merged.weight.copy_(self.base.weight + (self.lora_b @ self.lora_a) * self.scale)
        if self.base.bias is not None:
            merged.bias.copy_(self.base.bias)
        return merged


DEFAULT_TARGETS = ("attn.qkv", "attn.proj", "mlp.fc", "mlp.gate", "mlp.proj")


def inject_lora(model: nn.Module, rank: int = 8, alpha: float = 16.0, dropout: float = 0.0,
                targets: tuple[str, ...] = DEFAULT_TARGETS) -> list[str]:
    """Freeze every parameter of `model` and wrap the linear layers whose names end in one of `targets`.
    Returns the wrapped names; an empty match is an error (a typo in `targets` would otherwise train nothing)."""
    model.requires_grad_(False)
    wrapped = []
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.Linear) and name.endswith(targets):
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name), child, LoRALinear(module, rank, alpha, dropout))
            wrapped.append(name)
    if not wrapped:
        raise ValueError(f"no linear layer name ends with any of {targets}")
    return wrapped


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every LoRALinear by its merged nn.Linear, in place: the result is a plain model again."""
    for name, module in list(model.named_modules()):
        if isinstance(module, LoRALinear):
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name), child, module.merge())
    model.requires_grad_(True)
    return model


def trainable_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
