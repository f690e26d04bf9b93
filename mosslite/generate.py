"""Text generation with the KV cache: greedy or sampled, one prompt streamed or a left-padded batch.

Each next token follows Hugging Face's rules in HF's order (repetition penalty, temperature, top-k, top-p), so greedy
output equals `transformers`' `generate(do_sample=False)` on the same weights.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from mosslite.model import Transformer


@dataclass(frozen=True)
class SamplingConfig:
    """How each next token is chosen. temperature 0 is greedy (argmax); MOSS's README uses 0.7, top_p 0.8,
    repetition_penalty 1.02."""

    temperature: float = 0.0
    top_k: int | None = None  # keep only the k most likely tokens
    top_p: float | None = None  # keep the smallest set of most likely tokens whose probability reaches top_p
    repetition_penalty: float = 1.0  # > 1 discourages tokens already in the prompt or the output

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature={self.temperature} must be >= 0 (0 means greedy)")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k={self.top_k} must be >= 1 (or None to keep every token)")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p={self.top_p} must be in (0, 1] (or None)")
        if self.repetition_penalty <= 0:
            raise ValueError(f"repetition_penalty={self.repetition_penalty} must be > 0 (1 means no penalty)")


def apply_repetition_penalty(logits: Tensor, seen: Tensor, penalty: float) -> Tensor:
    """HF's repetition penalty (CTRL paper): for tokens already seen ([B, V] bool), divide positive logits by
    `penalty` and multiply negative ones, so a seen token always becomes less likely when penalty > 1."""
    penalised = torch.where(logits < 0, logits * penalty, logits / penalty)
    return torch.where(seen, penalised, logits)


def warp_logits(logits: Tensor, sampling: SamplingConfig) -> Tensor:
    """Temperature, then top-k, then top-p, as HF's warpers do: tokens filtered out get -inf ([B, V] -> [B, V])."""
    logits = logits / sampling.temperature
    if sampling.top_k is not None:
        kth_best = logits.topk(min(sampling.top_k, logits.shape[-1])).values[:, -1:]
        logits = logits.masked_fill(logits < kth_best, float("-inf"))  # ties with the k-th survive, as in HF
    if sampling.top_p is not None and sampling.top_p < 1:
        ascending, order = logits.sort(dim=-1)
        # Drop the unlikely tail whose total probability is at most 1 - top_p; the best token always stays.
        drop = ascending.softmax(-1).cumsum(-1) <= 1 - sampling.top_p
        drop[:, -1] = False
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


def sample_next(logits: Tensor, sampling: SamplingConfig, seen: Tensor | None = None,
                generator: torch.Generator | None = None) -> Tensor:
    """The next token id [B] from last-position logits [B, V]; `seen` marks the tokens the penalty applies to."""
    logits = logits.float()
    if sampling.repetition_penalty != 1.0 and seen is not None:
        logits = apply_repetition_penalty(logits, seen, sampling.repetition_penalty)
    if sampling.temperature == 0:
        return logits.argmax(-1)
    probs = warp_logits(logits, sampling).softmax(-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@torch.inference_mode()
def _decode(model: Transformer, prompts: Sequence[Sequence[int]], max_new_tokens: int, sampling: SamplingConfig,
            stop_tokens: Iterable[int], seed: int | None, truncate: bool) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield (next token [B], still running [B] bool) per step until every sequence stopped or the budget is spent.

    Prompts are left-padded into one batch: padding is hidden from attention by a mask and each sequence counts its
    positions from its own first real token (cumsum of the mask − 1, as HF does), so padding never changes a result.
    """
    prompts = [[int(t) for t in p] for p in prompts]
    if not prompts or min(map(len, prompts)) == 0:
        raise ValueError("every prompt needs at least one token (start from a BOS token for unconditional text)")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens={max_new_tokens} must be at least 1")
    room = model.config.block_size - max_new_tokens  # prompt tokens that still fit in the context
    if max(map(len, prompts)) > room:
        if not truncate or room < 1:
            raise ValueError(f"a prompt of {max(map(len, prompts))} tokens + max_new_tokens={max_new_tokens} exceeds "
                             f"the model's block_size={model.config.block_size}; shorten the prompt, lower "
                             "max_new_tokens, or pass truncate=True to keep only the last prompt tokens that fit")
        prompts = [p[-room:] for p in prompts]
    device = next(model.parameters()).device
    B, T = len(prompts), max(map(len, prompts))

    idx = torch.zeros(B, T, dtype=torch.long, device=device)  # the padding id is irrelevant: attention never sees it
    pad_mask = torch.ones(B, T + max_new_tokens, dtype=torch.bool, device=device)  # False on padding
    # Tokens the repetition penalty applies to: each prompt's own (HF would also count the padding id) and outputs.
    seen = torch.zeros(B, model.config.vocab_size, dtype=torch.bool, device=device)
    for i, p in enumerate(prompts):
        ids = torch.tensor(p, device=device)
        idx[i, T - len(p) :] = ids
        pad_mask[i, : T - len(p)] = False
        seen[i, ids] = True
    padded = not bool(pad_mask.all())
    positions = (pad_mask[:, :T].cumsum(-1) - 1).clamp(min=0) if padded else None
    mask = pad_mask if padded else None  # an unpadded batch takes SDPA's mask-free fast path
    stop = torch.tensor(sorted(set(stop_tokens)), dtype=torch.long, device=device)
    generator = torch.Generator(device).manual_seed(seed) if seed is not None else None

    penalised = sampling.repetition_penalty != 1.0  # otherwise `seen` is never read: skip its per-step update
    cache = model.make_cache(B, T + max_new_tokens)
    logits = model(idx, positions=positions, pad_mask=mask, cache=cache, last_only=True)[:, -1]
    running = torch.ones(B, dtype=torch.bool, device=device)
    for step in range(max_new_tokens):
        token = sample_next(logits, sampling, seen, generator)
        yield token, running.clone()
        if step == max_new_tokens - 1:
            return
        if len(stop):  # without stop tokens nothing can stop early: no per-step check (and no device sync)
            running &= ~torch.isin(token, stop)
            if not running.any():
                return
        if penalised:
            seen.scatter_(1, token[:, None], True)
        if positions is not None:
            positions = positions[:, -1:] + 1
        # Stopped sequences keep decoding (the batch stays rectangular); their tokens are simply not reported.
        logits = model(token[:, None], positions=positions, pad_mask=mask, cache=cache)[:, -1]


def generate(model: Transformer, prompts: Sequence[Sequence[int]], max_new_tokens: int, *, temperature: float = 0.0,
             top_k: int | None = None, top_p: float | None = None, repetition_penalty: float = 1.0,
             stop_tokens: Iterable[int] = (), seed: int | None = None, truncate: bool = False) -> list[list[int]]:
    """The new tokens of each prompt (a list of token-id lists of any lengths), decoded together in one batch.

    A sequence ends after `max_new_tokens` or on its first stop token, which is kept as its last token (as HF does),
    so `out[-1] in stop_tokens` tells a finished answer from a cut-off one. Greedy when temperature is 0; `seed`
    makes sampling reproducible. A prompt that leaves no room for `max_new_tokens` in the model's context is an
    error, or with `truncate=True` loses its oldest tokens.
    """
    sampling = SamplingConfig(temperature, top_k, top_p, repetition_penalty)
    outputs: list[list[int]] = [[] for _ in prompts]
    for tokens, running in _decode(model, prompts, max_new_tokens, sampling, stop_tokens, seed, truncate):
        for out, token, keep in zip(outputs, tokens.tolist(), running.tolist()):
            if keep:
                out.append(token)
    return outputs


def stream(model: Transformer, prompt_ids: Sequence[int], max_new_tokens: int, *, temperature: float = 0.0,
           top_k: int | None = None, top_p: float | None = None, repetition_penalty: float = 1.0,
           stop_tokens: Iterable[int] = (), seed: int | None = None, truncate: bool = False) -> Iterator[int]:
    """Yield one prompt's new tokens as soon as each is chosen (for a chat that prints as it goes).

    Same options and the same tokens as `generate` for that prompt, the stop token included.
    """
    sampling = SamplingConfig(temperature, top_k, top_p, repetition_penalty)
    for tokens, _ in _decode(model, [prompt_ids], max_new_tokens, sampling, stop_tokens, seed, truncate):
        yield int(tokens[0])
