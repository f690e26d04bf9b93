"""Chapter 8 exercises: size a model on paper before you build it.

Fill in each function; `pytest exercises/ch08_scaling` checks your answers against models the library builds.
"""

from mosslite.config import ModelConfig


def count_parameters(config: ModelConfig) -> int:
    """The number of parameters of `mosslite.model.Transformer(config)`, from the config alone.

    Hints: per block, a norm (LayerNorm has weight and bias; RMSNorm only a weight; a parallel block has one, a
    sequential block two), the fused qkv projection (n_head query heads plus 2·kv_heads key/value heads, each
    head_dim wide), the output projection, and the MLP (GELU: two matrices; SwiGLU: three), each with or without
    bias per the config. Then the token table, a learned position table if any, the final norm, and the head (none
    extra when tied; a bias if lm_head_bias).
    """
    raise NotImplementedError("count the parameters block by block")


def training_state_gb(n_params: int, gpus: int, sharded: bool, bytes_per_param: int = 16) -> float:
    """Gigabytes (1e9 bytes) of weights + gradients + AdamW moments per device.

    Hint: mixed-precision Adam costs 16 bytes per parameter; full sharding (FSDP) splits them over the devices,
    plain data parallel (DDP) keeps a full copy on each.
    """
    raise NotImplementedError("bytes per parameter, times parameters, divided by the shards")


def training_flops_per_token(config: ModelConfig, seq_len: int) -> float:
    """Training FLOPs per token: 6 per matmul weight (the blocks' matrices and the head, not the embedding lookup)
    plus the attention term 12 · n_layer · n_head · head_dim · seq_len."""
    raise NotImplementedError("6N plus the attention term")
