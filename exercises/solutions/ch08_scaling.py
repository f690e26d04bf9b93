"""Reference solutions for chapter 8."""

from mosslite.config import ModelConfig


def count_parameters(config: ModelConfig) -> int:
    E, H, G, D = config.n_embd, config.n_head, config.kv_heads, config.head_dim
    norm = E if config.norm == "rmsnorm" else 2 * E
    attn = E * (H + 2 * G) * D + (H + 2 * G) * D * config.attn_bias + H * D * E + E * config.attn_out_bias
    n_mats = 3 if config.mlp == "swiglu" else 2
    mlp = n_mats * E * config.mlp_hidden + config.mlp_bias * ((n_mats - 1) * config.mlp_hidden + E)
    block = (1 if config.parallel_residual else 2) * norm + attn + mlp
    embeddings = config.vocab_size * E + (config.block_size * E if config.position == "learned" else 0)
    head = 0 if config.tie_embeddings else config.vocab_size * E
    return config.n_layer * block + embeddings + norm + head + config.vocab_size * config.lm_head_bias


def training_state_gb(n_params: int, gpus: int, sharded: bool, bytes_per_param: int = 16) -> float:
    return n_params * bytes_per_param / (gpus if sharded else 1) / 1e9


def training_flops_per_token(config: ModelConfig, seq_len: int) -> float:
    E, H, G, D = config.n_embd, config.n_head, config.kv_heads, config.head_dim
    n_mats = 3 if config.mlp == "swiglu" else 2
    per_block = E * (H + 2 * G) * D + H * D * E + n_mats * E * config.mlp_hidden
    matmul = config.n_layer * per_block + config.vocab_size * E
    return 6 * matmul + 12 * config.n_layer * H * D * seq_len
