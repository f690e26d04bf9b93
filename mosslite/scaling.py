"""Sizing a run before making it: parameters, training FLOPs, memory per device and time, for any config.

The formulas are the standard ones (Kaplan et al. 2020 and PaLM's appendix for FLOPs; ZeRO's 16 bytes per parameter
for mixed-precision Adam; activations counted from what this library's block keeps for the backward pass) and the
tests check them against PyTorch's FLOP counter and against memory measured on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import nn

from mosslite.config import ModelConfig
from mosslite.model import build_model

Strategy = Literal["single", "ddp", "fsdp"]
Precision = Literal["32-true", "bf16-mixed", "bf16-true"]
GB = 1e9


def parameter_breakdown(model: nn.Module) -> dict[str, int]:
    """Parameters by role: embeddings, attention, MLP, norms, head (a tied head counts under embeddings)."""
    groups = {"embedding": 0, "attention": 0, "mlp": 0, "norm": 0, "head": 0}
    seen = set()
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in seen:
            continue
        seen.add(id(p))
        role = ("embedding" if name.startswith(("tok_emb", "pos_emb")) else "head" if name.startswith("lm_head")
                else "attention" if ".attn." in name else "mlp" if ".mlp." in name else "norm")
        groups[role] += p.numel()
    return groups


def count_parameters(config: ModelConfig) -> int:
    """Exact, from a model built on the meta device (no memory, any size)."""
    return build_model(config, device="meta").num_parameters()


def matmul_parameters(config: ModelConfig) -> int:
    """Weights that multiply every token: the blocks' weight matrices plus the head (which multiplies even when tied
    to the embedding). Embedding lookups, biases and norms cost no matrix FLOPs."""
    model = build_model(config, device="meta")
    blocks = sum(p.numel() for name, p in model.blocks.named_parameters() if p.dim() == 2)
    return blocks + config.vocab_size * config.n_embd


def training_flops_per_token(config: ModelConfig, seq_len: int) -> float:
    """Forward + backward FLOPs per token: 6·N for the weights (2 forward, 4 backward) plus the attention scores and
    weighted sum, 12·L·H·D·T (PaLM, appendix B). Causal masking is not subtracted, as PyTorch's counter does not."""
    attention = 12 * config.n_layer * config.n_head * config.head_dim * seq_len
    return 6 * matmul_parameters(config) + attention


# Bytes a parameter costs in training: (weights, gradients, optimizer states) for AdamW. Lightning's bf16-mixed keeps
# fp32 weights and gradients (4 + 4) and fp32 Adam moments (8): the same 16 bytes as ZeRO's fp16 accounting.
STATE_BYTES = {"32-true": (4, 4, 8), "bf16-mixed": (4, 4, 8), "bf16-true": (2, 2, 4)}
ACTIVATION_BYTES = {"32-true": 4, "bf16-mixed": 2, "bf16-true": 2}


def lora_parameters(config: ModelConfig, rank: int) -> tuple[int, int]:
    """(trainable LoRA parameters, adapted linear layers per block) with mosslite.lora's default targets."""
    from mosslite.lora import LoRALinear, inject_lora

    model = build_model(config, device="meta")
    inject_lora(model, rank=rank)
    per_block = sum(isinstance(m, LoRALinear) for m in model.blocks[0].modules())
    return sum(p.numel() for p in model.parameters() if p.requires_grad), per_block


def activation_elements_per_token(config: ModelConfig, checkpointing: bool) -> float:
    """Numbers autograd keeps per token for the backward pass, itemised from what this library's block saves (the
    CPU and GPU SDPA kernels keep no T×T score matrix, so there is no quadratic term).

    Per block: its input and the norm's output (2E), the fused q/k/v (E + 2·G·D), new rotated copies of q and k
    (E + G·D, rotary only), the attention output and the projection's input (2E), the MLP's hidden layer before and
    after GELU (2·hidden; SwiGLU keeps 4), a sequential block's second norm (E), and RMSNorm's extra normalised copy
    (E per norm). The head keeps the final norm's input and output and the log-softmax (2E + V). With checkpointing a
    block keeps only its input, and one block at a time is recomputed in full. Checked against autograd's saved
    tensors in tests/test_scaling.py: 17·E per MOSS block, 16·E per GPT-2 block.
    """
    E, G, D = config.n_embd, config.kv_heads, config.head_dim
    n_norms = 1 if config.parallel_residual else 2
    block = 2 * E + (E + 2 * G * D) + 2 * E + (4 if config.mlp == "swiglu" else 2) * config.mlp_hidden
    block += (E + G * D) if config.position == "rotary" else 0
    block += (n_norms - 1) * E + (n_norms * E if config.norm == "rmsnorm" else 0)
    head = 2 * E + config.vocab_size
    return (config.n_layer * E + block if checkpointing else config.n_layer * block) + head


@dataclass(frozen=True)
class Plan:
    config: ModelConfig
    gpus: int
    strategy: Strategy
    precision: Precision
    checkpointing: bool
    seq_len: int
    micro_batch: int
    parameters: int
    weights_gb: float
    gradients_gb: float
    optimizer_gb: float
    activations_gb: float
    buffers_gb: float  # FSDP's working set: gathered full blocks and a block's gradient before reduce-scatter
    flops_per_token: float
    trainable: int = 0  # parameters with gradients and optimizer states: all of them, or LoRA's adapters
    lora_rank: int = 0

    @property
    def states_gb(self) -> float:
        return self.weights_gb + self.gradients_gb + self.optimizer_gb

    @property
    def total_gb(self) -> float:
        return self.states_gb + self.activations_gb + self.buffers_gb

    def days_to_train(self, tokens: float, peak_tflops: float, mfu: float) -> float:
        """Wall-clock days for `tokens` at a model-FLOPs utilisation `mfu` of each device's peak."""
        return tokens * self.flops_per_token / (self.gpus * peak_tflops * 1e12 * mfu) / 86400

    @property
    def compute_optimal_tokens(self) -> float:
        """Chinchilla's rule of thumb: about 20 training tokens per parameter."""
        return 20.0 * self.parameters

    def max_micro_batch(self, device_memory_gb: float) -> int:
        """The largest micro-batch whose memory fits on one device (0 if the states alone do not fit)."""
        per_sequence = self.activations_gb / self.micro_batch
        return max(0, int((device_memory_gb - self.states_gb - self.buffers_gb) // per_sequence))


def plan(config: ModelConfig, gpus: int = 1, strategy: Strategy = "ddp", precision: Precision = "bf16-mixed",
         checkpointing: bool = False, seq_len: int | None = None, micro_batch: int = 1, lora_rank: int = 0) -> Plan:
    """Memory per device and FLOPs per token for training `config` this way.

    With `lora_rank`, the model is frozen and LoRA adapters (mosslite.lora's default targets) train: every weight is
    still held, but gradients and optimizer states exist for the adapters only, and each adapter keeps its r-wide
    intermediate per token for the backward pass.
    """
    if strategy not in ("single", "ddp", "fsdp"):
        raise ValueError(f"unknown strategy {strategy!r}; use single, ddp or fsdp")
    if precision not in STATE_BYTES:
        raise ValueError(f"unknown precision {precision!r}; use one of {', '.join(STATE_BYTES)}")
    if strategy == "single" and gpus != 1:
        raise ValueError("strategy 'single' runs on one device; use ddp or fsdp for more")
    seq_len = seq_len or config.block_size
    n = count_parameters(config)
    shard = gpus if strategy == "fsdp" else 1  # FSDP full sharding splits every state across the devices
    trainable, adapters = lora_parameters(config, lora_rank) if lora_rank else (n, 0)
    held = n + trainable if lora_rank else n
    weight_bytes, grad_bytes, optimizer_bytes = STATE_BYTES[precision]
    w = weight_bytes * held / shard / GB
    g, o = (b * trainable / shard / GB for b in (grad_bytes, optimizer_bytes))
    elements = activation_elements_per_token(config, checkpointing)
    elements += lora_rank * adapters * (1 if checkpointing else config.n_layer)  # x·Aᵀ of every adapter
    act = elements * seq_len * micro_batch * ACTIVATION_BYTES[precision]
    buffers = 0.0
    if strategy == "fsdp":  # the block in use and the next one (prefetched) in full, and one block's fp32 gradient
        block = sum(p.numel() for p in build_model(config, device="meta").blocks[0].parameters())
        block_trainable = trainable / n * block if lora_rank else block
        buffers = (block * 2 * ACTIVATION_BYTES[precision] + block_trainable * 4) / GB
    flops = training_flops_per_token(config, seq_len)
    if lora_rank:  # a frozen weight needs no gradient of its own: 4 FLOPs per weight per token instead of 6
        flops += 6 * trainable - 2 * matmul_parameters(config)
    return Plan(config, gpus, strategy, precision, checkpointing, seq_len, micro_batch, n, w, g, o, act / GB,
                buffers, flops, trainable, lora_rank)


def format_plan(p: Plan, device_memory_gb: float | None = None, peak_tflops: float = 989.5, mfu: float = 0.4,
                tokens: float | None = None) -> str:
    """A readable table of a plan: memory per device by kind, FLOPs, fit, and days of training."""
    tokens = tokens or p.compute_optimal_tokens
    c = p.config
    rows = [
        f"model        {c.name}: {p.parameters:,} parameters, {c.n_layer} layers, d {c.n_embd}, context {p.seq_len}",
        f"run          {p.gpus} device(s), {p.strategy}, {p.precision}, activation checkpointing "
        f"{'on' if p.checkpointing else 'off'}, micro-batch {p.micro_batch}"
        + (f", LoRA rank {p.lora_rank}: {p.trainable:,} trainable" if p.lora_rank else ""),
        "memory per device (GB)",
        f"  weights      {p.weights_gb:10.2f}",
        f"  gradients    {p.gradients_gb:10.2f}",
        f"  optimizer    {p.optimizer_gb:10.2f}",
        f"  activations  {p.activations_gb:10.2f}",
        f"  FSDP buffers {p.buffers_gb:10.2f}",
        f"  total        {p.total_gb:10.2f}",
        f"FLOPs/token  {p.flops_per_token / 1e9:,.2f} GFLOP (training)",
    ]
    if device_memory_gb:
        fits = "fits" if p.total_gb <= device_memory_gb else "does NOT fit"
        rows.append(f"fit          {fits} in {device_memory_gb:g} GB; largest micro-batch {p.max_micro_batch(device_memory_gb)}")
    rows.append(f"time         {tokens:.3g} tokens at {100 * mfu:.0f}% MFU of {peak_tflops:g} TFLOP/s: "
                f"{p.days_to_train(tokens, peak_tflops, mfu):,.1f} days")
    return "\n".join(rows)
