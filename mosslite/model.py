"""One `Transformer`, driven by `ModelConfig`, that is MOSS (CodeGen), GPT-2 or Llama depending on a few switches.

Read it top to bottom: norms, rotary positions, attention (with a KV cache for decoding), the two MLPs, the block,
and the model. Shapes: B batch, T new positions, S all positions the attention sees (cache + new), H query heads,
G key/value heads, D head size, E model width, V vocabulary.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mosslite.config import ModelConfig


class RMSNorm(nn.Module):
    """Llama's norm: rescale by the root-mean-square, no centring and no bias (computed in fp32 for stability)."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * normed.to(x.dtype)

    def reset_parameters(self) -> None:
        nn.init.ones_(self.weight)


def make_norm(config: ModelConfig) -> nn.Module:
    if config.norm == "rmsnorm":
        return RMSNorm(config.n_embd, config.norm_eps)
    return nn.LayerNorm(config.n_embd, eps=config.norm_eps)


def dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Dropout that is skipped outright when it would do nothing (eval, or p = 0): decoding passes here 3 times a
    layer per token, and even a no-op module call costs microseconds."""
    return F.dropout(x, p) if training and p > 0 else x


# ----------------------------------------------------------------------------------------------- rotary positions
def rotary_angles(positions: Tensor, dims: int, base: float) -> tuple[Tensor, Tensor]:
    """cos and sin of position·frequency for each rotated pair: [B, T] positions -> two [B, 1, T, dims/2] tensors."""
    exponents = torch.arange(0, dims, 2, device=positions.device, dtype=torch.int64).float() / dims
    inv_freq = 1.0 / (base**exponents)  # pair i turns at base^(-2i/dims) radians per position
    angles = positions[..., None].float() * inv_freq
    return angles.cos()[:, None], angles.sin()[:, None]


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor, style: str) -> Tensor:
    """Rotate the first `2·cos.shape[-1]` dims of each head by its position's angles; leave the rest untouched.

    "interleaved" (GPT-J, MOSS) pairs neighbours (x0,x1),(x2,x3)…; "half" (GPT-NeoX, Llama) pairs x_i with x_{i+d/2}.
    Both are the same rotation of a different pairing, so they differ only by a fixed permutation of q and k dims.
    """
    dims = 2 * cos.shape[-1]
    rot, rest = x[..., :dims].float(), x[..., dims:]
    if style == "interleaved":
        a, b = rot[..., 0::2], rot[..., 1::2]
        turned = torch.stack((a * cos - b * sin, b * cos + a * sin), dim=-1).flatten(-2)
    else:
        a, b = rot.chunk(2, dim=-1)
        turned = torch.cat((a * cos - b * sin, b * cos + a * sin), dim=-1)
    return torch.cat((turned.to(x.dtype), rest), dim=-1)


# ------------------------------------------------------------------------------------------------------ attention
class KVCache:
    """Keys and values of the positions seen so far, preallocated for `max_len` so decoding never copies the past."""

    def __init__(self, config: ModelConfig, batch_size: int, max_len: int, device=None, dtype=torch.float32) -> None:
        shape = (config.n_layer, batch_size, config.kv_heads, max_len, config.head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.length = 0  # positions already stored; the model advances it after every forward pass

    @property
    def max_len(self) -> int:
        return self.k.shape[3]

    def update(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store this layer's new keys/values [B, G, T, D]; return all of them so far [B, G, S, D]."""
        end = self.length + k.shape[2]
        self.k[layer, :, :, self.length : end] = k
        self.v[layer, :, :, self.length : end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]


class CausalSelfAttention(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        H, G, D = config.n_head, config.kv_heads, config.head_dim
        self.qkv = nn.Linear(config.n_embd, (H + 2 * G) * D, bias=config.attn_bias)  # rows laid out [Q | K | V]
        self.proj = nn.Linear(H * D, config.n_embd, bias=config.attn_out_bias)

    def forward(self, x: Tensor, rope: tuple[Tensor, Tensor] | None, mask: Tensor | None, causal: bool,
                cache: KVCache | None, layer: int) -> Tensor:
        c = self.config
        H, G, D = c.n_head, c.kv_heads, c.head_dim
        # Heads by plain views, not einops: its few µs of per-call overhead add up over every layer of every token.
        qkv = self.qkv(x).unflatten(-1, (H + 2 * G, D)).transpose(1, 2)  # [B, T, n·D] -> [B, n, T, D], n = H + 2G
        qk, v = qkv.split([H + G, G], dim=1)
        if rope is not None:
            qk = apply_rotary(qk, *rope, c.rotary_style)  # queries and keys turn alike: one call rotates both
        q, k = qk.split([H, G], dim=1)
        if cache is not None:
            k, v = cache.update(layer, k, v)  # [B, G, S, D]
        if G != H:  # grouped-query attention: each key/value head serves H/G query heads
            k, v = k.repeat_interleave(H // G, dim=1), v.repeat_interleave(H // G, dim=1)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal,
                                           dropout_p=c.dropout if self.training else 0.0)
        return dropout(self.proj(y.transpose(1, 2).flatten(2)), c.dropout, self.training)  # [B, H, T, D] -> [B, T, H·D]


# ------------------------------------------------------------------------------------------------------------ MLPs
class GeluMLP(nn.Module):
    """Widen, tanh-GELU, narrow back (MOSS's fc_in/fc_out, GPT-2's c_fc/c_proj)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.p_drop = config.dropout
        self.fc = nn.Linear(config.n_embd, config.mlp_hidden, bias=config.mlp_bias)
        self.proj = nn.Linear(config.mlp_hidden, config.n_embd, bias=config.mlp_bias)

    def forward(self, x: Tensor) -> Tensor:
        return dropout(self.proj(F.gelu(self.fc(x), approximate="tanh")), self.p_drop, self.training)


class SwiGLU(nn.Module):
    """Llama's gated MLP: a SiLU-activated gate multiplies a second projection before narrowing back."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.p_drop = config.dropout
        self.gate = nn.Linear(config.n_embd, config.mlp_hidden, bias=config.mlp_bias)
        self.fc = nn.Linear(config.n_embd, config.mlp_hidden, bias=config.mlp_bias)
        self.proj = nn.Linear(config.mlp_hidden, config.n_embd, bias=config.mlp_bias)

    def forward(self, x: Tensor) -> Tensor:
        return dropout(self.proj(F.silu(self.gate(x)) * self.fc(x)), self.p_drop, self.training)


# ----------------------------------------------------------------------------------------------------------- block
class Block(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.norm_1 = make_norm(config)
        self.attn = CausalSelfAttention(config)
        self.norm_2 = None if config.parallel_residual else make_norm(config)
        self.mlp = SwiGLU(config) if config.mlp == "swiglu" else GeluMLP(config)

    def forward(self, x: Tensor, rope, mask, causal, cache, layer) -> Tensor:
        h = self.norm_1(x)
        if self.norm_2 is None:  # MOSS/CodeGen: attention and MLP read the same normalised input, side by side
            return x + self.attn(h, rope, mask, causal, cache, layer) + self.mlp(h)
        x = x + self.attn(h, rope, mask, causal, cache, layer)  # GPT-2/Llama: one after the other
        return x + self.mlp(self.norm_2(x))


# ----------------------------------------------------------------------------------------------------------- model
class Transformer(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = nn.Embedding(config.block_size, config.n_embd) if config.position == "learned" else None
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.norm_f = make_norm(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=config.lm_head_bias)
        if config.tie_embeddings:
            self.lm_head.weight = self.tok_emb.weight
        # cos/sin of every position, built on first use: a plain attribute, not a buffer, so that model.to(bf16)
        # cannot round the angles (see _rotary).
        self._rope_table: tuple[Tensor, Tensor] | None = None
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """GPT-2's init: N(0, 0.02) weights, zero biases, and the projections that write into the residual stream
        shrunk by 1/sqrt(2·n_layer) so the stream's variance does not grow with depth."""
        for name, module in self.named_modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                std = 0.02 / math.sqrt(2 * self.config.n_layer) if name.endswith(".proj") else 0.02
                nn.init.normal_(module.weight, mean=0.0, std=std)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.LayerNorm, RMSNorm)):
                module.reset_parameters()

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        """Unique parameters (a tied head counts once); optionally without the token/position tables."""
        params = {id(p): p for p in self.parameters()}
        if exclude_embeddings:
            for table in (self.tok_emb, self.pos_emb):
                if table is not None:
                    params.pop(id(table.weight), None)
        return sum(p.numel() for p in params.values())

    def make_cache(self, batch_size: int, max_len: int | None = None) -> KVCache:
        p = next(self.parameters())
        return KVCache(self.config, batch_size, max_len or self.config.block_size, device=p.device, dtype=p.dtype)

    def forward(self, idx: Tensor, positions: Tensor | None = None, pad_mask: Tensor | None = None,
                cache: KVCache | None = None, last_only: bool = False) -> Tensor:
        """Next-token logits [B, T, V] for token ids [B, T].

        positions: [B, T] position of each token (default: continue from the cache). pad_mask: [B, S] bool, False on
        padding (left padding in batched generation) over all positions the attention sees. cache: a KVCache that
        this call reads and extends. last_only: logits of the last position only, [B, 1, V] (all that generation
        needs from a prompt; the head is the largest matrix, so skipping the other rows saves real time).
        """
        B, T = idx.shape
        start = cache.length if cache is not None else 0
        if start + T > (cache.max_len if cache is not None else self.config.block_size):
            raise ValueError(f"sequence of {start + T} tokens exceeds the model's context of "
                             f"{self.config.block_size} (or the cache's length); shorten the prompt")
        mask, causal = self._attention_mask(B, T, start, pad_mask, idx.device)

        x = self.tok_emb(idx)
        rope = None
        if self.pos_emb is not None:
            x = x + self.pos_emb(positions if positions is not None else torch.arange(start, start + T, device=idx.device))
        else:
            rope = self._rotary(positions, start, T, idx.device)
        x = dropout(x, self.config.dropout, self.training)
        for layer, block in enumerate(self.blocks):
            x = block(x, rope, mask, causal, cache, layer)
        if cache is not None:
            cache.length += T
        return self.lm_head(self.norm_f(x[:, -1:] if last_only else x))

    def _rotary(self, positions: Tensor | None, start: int, T: int, device) -> tuple[Tensor, Tensor]:
        """cos/sin for these positions ([B, T], or None for start..start+T-1), read from a table of every position:
        decoding would otherwise recompute the same angles at every step."""
        if self._rope_table is None or self._rope_table[0].device != device:
            every = torch.arange(self.config.block_size, device=device)[None]
            self._rope_table = rotary_angles(every, self.config.rope_dims, self.config.rotary_base)  # [1, 1, ctx, r/2]
        cos, sin = self._rope_table
        if positions is None:
            return cos[:, :, start : start + T], sin[:, :, start : start + T]  # views: no work at all
        return cos[0, 0, positions][:, None], sin[0, 0, positions][:, None]  # [B, 1, T, r/2]

    @staticmethod
    def _attention_mask(B: int, T: int, start: int, pad_mask: Tensor | None, device) -> tuple[Tensor | None, bool]:
        """Which keys each query may see, as (bool mask [B, 1, T, S] or None, is_causal flag for SDPA)."""
        if pad_mask is None and start == 0:
            return None, T > 1  # plain causal attention: SDPA's fast path
        if pad_mask is None and T == 1:
            return None, False  # one new token may see every cached one
        S = start + T
        query_pos = torch.arange(start, S, device=device)[:, None]
        mask = (torch.arange(S, device=device)[None, :] <= query_pos)[None, None]  # [1, 1, T, S]
        if pad_mask is not None:
            # Hide padding keys, but let every query see itself so a padding row is never all -inf (NaN).
            mask = (mask & pad_mask[:, None, None, :S]) | (torch.arange(S, device=device)[None, :] == query_pos)
        return mask.expand(B, 1, T, S), False


def lm_loss(logits: Tensor, targets: Tensor, ignore_index: int = -100) -> Tensor:
    """Mean next-token cross-entropy over the positions whose target is not `ignore_index` (the loss mask)."""
    return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=ignore_index)


def build_model(config: ModelConfig, device: str | torch.device | None = None) -> Transformer:
    """A freshly initialised model; `device="meta"` builds the shapes only (any size, instantly, no memory)."""
    with torch.device(device or "cpu"):
        return Transformer(config)
