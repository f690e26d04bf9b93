"""Deployment arithmetic and measurements: what the KV cache costs, why decoding is memory-bound, and the precision
trade-off (memory, tokens/s, perplexity) of fp32, bf16, int8 and int4 weights on the same model and text.

Each decoding step multiplies one new token's activations by every weight matrix: about 2 FLOPs per weight but a full
read of every weight from memory. A CPU or GPU does far more FLOPs per second than it moves bytes per second, so the
step waits on memory, and tokens/s ≈ memory bandwidth / bytes read per token. Batching shares one read among many
sequences; smaller weights (bf16, int8, int4) make the read itself shorter.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from mosslite.config import ModelConfig
from mosslite.generate import generate
from mosslite.model import Transformer, lm_loss
from mosslite.quantize import model_bytes, quantize_model

PRECISIONS = ("fp32", "bf16", "int8", "int4")


def kv_cache_bytes(config: ModelConfig, batch: int, tokens: int, bytes_per_value: int = 4) -> int:
    """Bytes of keys and values for `batch` sequences of `tokens` positions: 2 · layers · kv heads · head dim each."""
    return 2 * config.n_layer * config.kv_heads * config.head_dim * batch * tokens * bytes_per_value


@torch.inference_mode()
def greedy_without_cache(model: Transformer, prompt: Sequence[int], max_new_tokens: int) -> list[int]:
    """Greedy decoding that re-reads the whole sequence for every new token: the O(T²) loop the KV cache removes."""
    ids = torch.tensor([list(prompt)], device=next(model.parameters()).device)
    for _ in range(max_new_tokens):
        nxt = model(ids)[:, -1].argmax(-1, keepdim=True)
        ids = torch.cat([ids, nxt], dim=1)
    return ids[0, len(prompt) :].tolist()


def with_precision(model: Transformer, precision: str, group_size: int = 128) -> Transformer:
    """A copy of `model` in fp32 or bf16, or with int8/int4 weight-only linear layers around a bf16 embedding and head
    (MOSS's quantized releases kept those two in fp16; bf16 is the 16-bit type CPUs compute in)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose from {PRECISIONS}")
    copied = copy.deepcopy(model).eval()
    if precision == "fp32":
        return copied
    copied.to(torch.bfloat16)
    if precision in ("int8", "int4"):
        quantize_model(copied, bits=int(precision[3:]), group_size=group_size)
    return copied


@torch.inference_mode()
def perplexity(model: Transformer, ids: Tensor, seq_len: int | None = None, batch_size: int = 8) -> float:
    """exp(mean next-token loss) over `ids` [N] cut into non-overlapping windows of `seq_len` (default: the context)."""
    seq_len = seq_len or model.config.block_size
    n = (len(ids) - 1) // seq_len
    if n < 1:
        raise ValueError(f"need more than {seq_len} tokens to measure perplexity, got {len(ids)}")
    x = ids[: n * seq_len].view(n, seq_len)
    y = ids[1 : n * seq_len + 1].view(n, seq_len)
    total = 0.0
    for i in range(0, n, batch_size):
        total += lm_loss(model(x[i : i + batch_size]), y[i : i + batch_size]).item() * len(x[i : i + batch_size])
    return math.exp(total / n)


@torch.inference_mode()
def prefill_speed(model: Transformer, n_tokens: int = 256, repeats: int = 2) -> float:
    """Prompt tokens per second when a whole prompt goes through in one pass: the same weights and FLOPs per token as
    decoding, but one read of the weights serves every token, so this phase is limited by arithmetic instead."""
    ids = torch.randint(0, model.config.vocab_size, (1, min(n_tokens, model.config.block_size)),
                        device=next(model.parameters()).device)
    model(ids)  # warm-up
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        model(ids)
        best = min(best, time.perf_counter() - start)
    return ids.shape[1] / best


def decode_speed(model: Transformer, prompt: Sequence[int], new_tokens: int, batch: int = 1, repeats: int = 2) -> float:
    """Generated tokens per second with the KV cache (greedy, best of `repeats` after a warm-up run)."""
    generate(model, [list(prompt)] * batch, min(new_tokens, 4))  # warm-up: first-call allocations and kernel choice
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        out = generate(model, [list(prompt)] * batch, new_tokens)
        best = min(best, time.perf_counter() - start)
    return sum(map(len, out)) / best


@dataclass(frozen=True)
class PrecisionRow:
    precision: str
    bytes: int  # every parameter and buffer
    tokens_per_s: float
    perplexity: float


def compare_precisions(model: Transformer, val_ids: Tensor, prompt: Sequence[int], new_tokens: int = 64,
                       precisions: Sequence[str] = PRECISIONS, seq_len: int | None = None,
                       repeats: int = 2) -> list[PrecisionRow]:
    """Memory, decoding speed and validation perplexity of `model` at each precision, on the same text and prompt."""
    rows = []
    for precision in precisions:
        variant = with_precision(model, precision)
        rows.append(PrecisionRow(precision, model_bytes(variant), decode_speed(variant, prompt, new_tokens,
                                                                              repeats=repeats),
                                 perplexity(variant, val_ids, seq_len)))
    return rows


def format_precisions(rows: Sequence[PrecisionRow]) -> str:
    """A table with ratios against the first row (fp32)."""
    ref = rows[0]
    lines = [f"| precision | memory MB | × {ref.precision} | tokens/s | × {ref.precision} | perplexity | "
             f"vs {ref.precision} |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.precision} | {r.bytes / 1e6:.1f} | {r.bytes / ref.bytes:.2f} | {r.tokens_per_s:.1f} | "
                     f"{r.tokens_per_s / ref.tokens_per_s:.2f} | {r.perplexity:.3f} | "
                     f"{100 * (r.perplexity / ref.perplexity - 1):+.2f}% |")
    return "\n".join(lines)
