"""Reference solutions for chapter 3."""

import math
from collections.abc import Callable

import torch
from torch import Tensor


def causal_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    T = q.shape[-2]
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    future = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)
    return scores.masked_fill(future, float("-inf")).softmax(dim=-1) @ v


def rotary(x: Tensor, positions: Tensor, rotary_dim: int, base: float = 10000.0) -> Tensor:
    inv_freq = base ** (-torch.arange(0, rotary_dim, 2, dtype=torch.float32) / rotary_dim)
    angles = positions[:, None, :, None].float() * inv_freq  # [B, 1, T, rotary_dim/2]
    cos, sin = angles.cos(), angles.sin()
    a, b = x[..., 0:rotary_dim:2], x[..., 1:rotary_dim:2]
    turned = torch.stack((a * cos - b * sin, b * cos + a * sin), dim=-1).flatten(-2)
    return torch.cat((turned.to(x.dtype), x[..., rotary_dim:]), dim=-1)


def parallel_block(x: Tensor, norm: Callable[[Tensor], Tensor], attn: Callable[[Tensor], Tensor],
                   mlp: Callable[[Tensor], Tensor]) -> Tensor:
    h = norm(x)
    return x + attn(h) + mlp(h)
