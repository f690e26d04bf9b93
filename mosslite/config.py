"""`ModelConfig`: every architectural choice of the transformer, and named presets from `toy` to `moss-16b`.

A handful of switches cover three real families: MOSS/CodeGen (parallel block, one shared LayerNorm, interleaved
partial rotary), GPT-2 (learned positions, sequential pre-LN blocks, tied head) and Llama (RMSNorm, SwiGLU, rotate-half
rotary, grouped-query attention).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class ModelConfig:
    name: str = "custom"
    vocab_size: int = 512
    block_size: int = 256  # longest sequence the model is built for (MOSS: n_positions 2048)
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    n_query_groups: int | None = None  # key/value heads: n_head = multi-head, 1 = multi-query, between = GQA
    n_inner: int | None = None  # MLP hidden width; None means 4 * n_embd
    mlp: Literal["gelu", "swiglu"] = "gelu"  # gelu is the tanh approximation ("gelu_new"), as MOSS and GPT-2 use
    norm: Literal["layernorm", "rmsnorm"] = "layernorm"
    norm_eps: float = 1e-5
    position: Literal["rotary", "learned"] = "rotary"
    rotary_dim: int | None = None  # rotate only the first rotary_dim dims of each head (MOSS: 64 of 256); None = all
    rotary_style: Literal["interleaved", "half"] = "interleaved"  # GPT-J pairs (x0,x1),(x2,x3) vs Llama halves
    rotary_base: float = 10000.0
    parallel_residual: bool = True  # x + attn(ln(x)) + mlp(ln(x)) with one shared norm, as MOSS/CodeGen/GPT-J
    attn_bias: bool = False  # bias on the fused qkv projection
    attn_out_bias: bool = False  # bias on the attention output projection
    mlp_bias: bool = True
    tie_embeddings: bool = False  # lm_head shares the token embedding matrix (GPT-2)
    lm_head_bias: bool = True  # MOSS's untied head carries a bias
    dropout: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        if self.n_embd % self.n_head:
            problems.append(f"n_embd={self.n_embd} must be divisible by n_head={self.n_head}")
        if self.n_head % self.kv_heads:
            problems.append(f"n_head={self.n_head} must be divisible by n_query_groups={self.n_query_groups}")
        if self.position == "rotary" and (self.rope_dims % 2 or self.rope_dims > self.head_dim):
            problems.append(f"rotary_dim={self.rotary_dim} must be even and at most head_dim={self.head_dim}")
        if self.tie_embeddings and self.lm_head_bias:
            problems.append("a tied lm_head has no bias: set lm_head_bias=False with tie_embeddings=True")
        for name, value in (("mlp", self.mlp), ("norm", self.norm), ("position", self.position)):
            allowed = {"mlp": ("gelu", "swiglu"), "norm": ("layernorm", "rmsnorm"), "position": ("rotary", "learned")}
            if value not in allowed[name]:
                problems.append(f"{name}={value!r} is not one of {allowed[name]}")
        if problems:
            raise ValueError(f"invalid ModelConfig {self.name!r}: " + "; ".join(problems))

    # Derived sizes, computed rather than stored so a config can never disagree with itself.
    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def kv_heads(self) -> int:
        return self.n_query_groups or self.n_head

    @property
    def mlp_hidden(self) -> int:
        return self.n_inner or 4 * self.n_embd

    @property
    def rope_dims(self) -> int:
        return self.rotary_dim if self.rotary_dim is not None else self.head_dim

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{source}: unknown ModelConfig keys {unknown}; valid keys are {sorted(known)}")
        return cls(**data)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> ModelConfig:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no model config at {path}")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON: {err}") from err
        return cls.from_dict(data, source=str(path))

    def with_(self, **changes) -> ModelConfig:
        """A copy with some fields changed, e.g. `get_config("toy").with_(vocab_size=tokenizer.vocab_size)`."""
        return replace(self, **changes)


_MOSS = dict(position="rotary", rotary_style="interleaved", parallel_residual=True, mlp="gelu", norm="layernorm",
             attn_bias=False, attn_out_bias=False, mlp_bias=True, tie_embeddings=False, lm_head_bias=True)

PRESETS: dict[str, ModelConfig] = {
    # MOSS-shaped models small enough for a laptop: the same block as moss-16b, fewer and narrower layers.
    "toy": ModelConfig(name="toy", vocab_size=512, block_size=128, n_layer=2, n_head=4, n_embd=64, rotary_dim=8, **_MOSS),
    "tiny": ModelConfig(name="tiny", vocab_size=4096, block_size=256, n_layer=4, n_head=4, n_embd=128, rotary_dim=16,
                        **_MOSS),
    "small": ModelConfig(name="small", vocab_size=8192, block_size=512, n_layer=6, n_head=8, n_embd=384, rotary_dim=16,
                         **_MOSS),
    # The MOSS block at the sizes a scaling study or a multi-GPU recipe needs (MOSS's vocabulary, head dim 64-128).
    "moss-500m": ModelConfig(name="moss-500m", vocab_size=107008, block_size=2048, n_layer=24, n_head=16, n_embd=1024,
                             rotary_dim=32, **_MOSS),
    "moss-1b": ModelConfig(name="moss-1b", vocab_size=107008, block_size=2048, n_layer=24, n_head=12, n_embd=1536,
                           rotary_dim=32, **_MOSS),
    "moss-7b": ModelConfig(name="moss-7b", vocab_size=107008, block_size=2048, n_layer=32, n_head=32, n_embd=4096,
                           rotary_dim=32, **_MOSS),
    # GPT-2 small exactly as OpenAI released it (124,439,808 parameters with the tied head).
    "gpt2-124m": ModelConfig(name="gpt2-124m", vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768,
                             position="learned", parallel_residual=False, mlp="gelu", norm="layernorm",
                             attn_bias=True, attn_out_bias=True, mlp_bias=True, tie_embeddings=True,
                             lm_head_bias=False),
    # moss-moon-003 exactly (config.json of fnlp/moss-moon-003-sft): 16,717,980,160 parameters.
    "moss-16b": ModelConfig(name="moss-16b", vocab_size=107008, block_size=2048, n_layer=34, n_head=24, n_embd=6144,
                            rotary_dim=64, n_inner=24576, norm_eps=1e-5, **_MOSS),
}


def get_config(name: str, **overrides) -> ModelConfig:
    """The named preset, optionally with fields overridden; an unknown name lists the valid ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; valid presets: {', '.join(PRESETS)}")
    return PRESETS[name].with_(**overrides) if overrides else PRESETS[name]
