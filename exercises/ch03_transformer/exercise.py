"""Chapter 3 exercises: the three ideas of a MOSS block, written by hand.

Fill in each function; `pytest exercises/ch03_transformer` checks them against PyTorch's SDPA and `mosslite.model`.
"""

from collections.abc import Callable

from torch import Tensor


def causal_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Scaled dot-product attention in which position t reads only positions 0..t.

    q, k, v: [B, H, T, D] -> [B, H, T, D]. Hints: scores = q·kᵀ / √D, shape [B, H, T, T]; set the scores above the
    diagonal (the future) to -inf before the softmax over the last dimension; then weight the values.
    """
    raise NotImplementedError("scores = q @ k^T / sqrt(D); mask the upper triangle with -inf; softmax; @ v")


def rotary(x: Tensor, positions: Tensor, rotary_dim: int, base: float = 10000.0) -> Tensor:
    """GPT-J/MOSS rotary embedding: rotate the first `rotary_dim` dims of each head, in neighbouring pairs.

    x: [B, H, T, D]; positions: [B, T] integers. Hints: pair i = (x[2i], x[2i+1]) for i < rotary_dim/2 turns by the
    angle position · base^(-2i/rotary_dim): (a, b) -> (a·cos − b·sin, b·cos + a·sin). Dims from rotary_dim on pass
    through unchanged (MOSS rotates 64 of its 256).
    """
    raise NotImplementedError("angles = positions * base ** (-2i / rotary_dim); turn pairs (x[2i], x[2i+1])")


def parallel_block(x: Tensor, norm: Callable[[Tensor], Tensor], attn: Callable[[Tensor], Tensor],
                   mlp: Callable[[Tensor], Tensor]) -> Tensor:
    """MOSS's parallel residual block: attention and MLP both read one shared norm of x, and both add to x.

    Hint: normalise once, then x + attn(h) + mlp(h) (GPT-2 instead does x = x + attn(norm1(x)); x + mlp(norm2(x))).
    """
    raise NotImplementedError("h = norm(x); return x + attn(h) + mlp(h)")
