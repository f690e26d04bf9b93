"""Chapter 9 exercises: the two tricks that make a chat model cheap to serve.

Fill in each function; `pytest exercises/ch09_deployment` checks them against full attention and mosslite.quantize.
"""

import torch  # noqa: F401  (you will need these)
import torch.nn.functional as F  # noqa: F401
from torch import Tensor


class KVCache:
    """Keys and values of every position seen so far, for one attention layer, so decoding never recomputes them."""

    def __init__(self) -> None:
        raise NotImplementedError("start empty: no keys or values yet")

    def update(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Append this step's keys and values [B, H, T_new, D]; return all of them so far, [B, H, T_seen, D] each.

        Hint: torch.cat along the position dimension (mosslite's model preallocates instead, to avoid the copies).
        """
        raise NotImplementedError("append along dim 2 and return everything seen")


def cached_attention(q: Tensor, k: Tensor, v: Tensor, cache: KVCache) -> Tensor:
    """Causal attention of new queries q [B, H, T_new, D] over the cached positions plus the new k, v (same shape).

    The new positions come right after the cached ones: the query at new position i may see every cached position
    and the new positions 0..i, never a later one. Return [B, H, T_new, D].
    Hint: update the cache first; then a boolean mask [T_new, T_seen] (True where attention is allowed) for
    F.scaled_dot_product_attention, or the scores q·kᵀ/√D with the hidden ones set to -inf before the softmax.
    """
    raise NotImplementedError("update the cache, build the causal mask with an offset, attend")


def quantize_int8(weight: Tensor) -> tuple[Tensor, Tensor]:
    """Symmetric per-row int8 quantization of a weight [out, in]: returns q (torch.int8, [out, in]) and scale
    (float, [out]) with weight ≈ q · scale[:, None].

    Hint: each row's scale is its largest |value| / 127 (clamped away from zero for an all-zero row); round, then
    clamp to -127..127 so the codes stay symmetric.
    """
    raise NotImplementedError("scale per row, round, clamp, cast to int8")


def dequantize_int8(q: Tensor, scale: Tensor) -> Tensor:
    """The float weight [out, in] that int8 codes q and per-row scales stand for."""
    raise NotImplementedError("q times its row's scale, in float")


def int8_linear(x: Tensor, q: Tensor, scale: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x Wᵀ + b with W stored as int8 codes and per-row scales: what a weight-only quantized layer computes.

    Hint: because each scale belongs to one output row, (x · qᵀ) · scale equals x · (q · scale)ᵀ — the scale can be
    applied after the product, so the weight never has to be rebuilt in full.
    """
    raise NotImplementedError("multiply by the codes, then scale each output column, then add the bias")
