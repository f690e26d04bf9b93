"""Vocabulary extension, as MOSS did it: keep an English tokenizer's merges and append merges learned on Chinese.

An English byte-level BPE spends about one token per UTF-8 byte of Chinese (three per character), so Chinese text
is long, slow and expensive. MOSS started from CodeGen's GPT-2 vocabulary and appended about 56K mostly-Chinese
tokens. The model's embedding and head then need rows for the new tokens: `resize_vocabulary` starts each new row
at the mean of the rows of the old pieces the token is made of, so the model's first guess for a new token is what
it already believed about its pieces, not noise.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import nn

from mosslite.tokenizer.bpe import ScratchBPE
from mosslite.tokenizer.fast import FastBPE, scratch_from_json


# ------------------------------------------------------------------------------------------------ measuring
def chars_per_token(tokenizer, texts: Iterable[str]) -> float:
    """Compression: characters of text per token (higher is cheaper: more text fits in a context, fewer steps)."""
    texts = list(texts)
    return sum(len(t) for t in texts) / max(1, sum(len(tokenizer.encode(t)) for t in texts))


def compression_table(tokenizers: Mapping[str, object], texts: Mapping[str, Sequence[str]]) -> list[dict]:
    """One row per tokenizer: its vocabulary size and characters per token on each language's texts."""
    return [{"tokenizer": name, "vocab": tok.vocab_size,
             **{lang: round(chars_per_token(tok, docs), 3) for lang, docs in texts.items()}}
            for name, tok in tokenizers.items()]


def script_of(token: bytes) -> str:
    """What a vocabulary entry holds: "Han", "Latin", "digits", "space", "other", or "partial" (bytes that are
    not whole UTF-8 characters, e.g. one or two of a Chinese character's three)."""
    try:
        text = token.decode("utf-8").strip()
    except UnicodeDecodeError:
        return "partial"
    if not text:
        return "space"
    if any("CJK UNIFIED" in unicodedata.name(c, "") for c in text):
        return "Han"
    if any("LATIN" in unicodedata.name(c, "") for c in text):
        return "Latin"
    return "digits" if text.isdigit() else "other"


def vocabulary_share(tokenizer) -> Counter:
    """How many entries of the vocabulary (special tokens aside) hold each script: the "vocabulary share"."""
    specials = set(tokenizer.special_tokens.values())
    return Counter(script_of(tokenizer.token_bytes(i)) for i in range(tokenizer.vocab_size) if i not in specials)


# ------------------------------------------------------------------------------------------------ extending
def extend_vocabulary(tokenizer, texts: Iterable[str], added: int) -> FastBPE:
    """A tokenizer with the old merges unchanged and `added` new merges learned on `texts` (special tokens move to
    the end, as they always sit last)."""
    base = as_scratch(tokenizer)
    extended = ScratchBPE.train(texts, base.vocab_size + added, list(base.special_tokens), start=base)
    return FastBPE(extended.to_json())


def as_scratch(tokenizer) -> ScratchBPE:
    """The pure-Python view of either tokenizer (the same merges and ids)."""
    return tokenizer if isinstance(tokenizer, ScratchBPE) else scratch_from_json(tokenizer.to_json())


def row_sources(old, new) -> list[list[int]]:
    """For each id of `new`, the ids of `old` whose rows it starts from.

    A token `old` already has keeps its row (found by its bytes, so special tokens that moved keep theirs); a new
    token averages the rows of the old tokens its bytes split into (bytes, not text: it may be part of a character).
    """
    pieces = as_scratch(old)
    old_specials = {i: t for t, i in old.special_tokens.items()}
    old_ids = {old.token_bytes(i): i for i in range(old.vocab_size) if i not in old_specials}
    new_specials = {i: t for t, i in new.special_tokens.items()}
    sources = []
    for i in range(new.vocab_size):
        if new_specials.get(i) in old.special_tokens:
            sources.append([old.special_tokens[new_specials[i]]])
        elif new.token_bytes(i) in old_ids:
            sources.append([old_ids[new.token_bytes(i)]])
        else:
            sources.append(pieces.encode_bytes(new.token_bytes(i)))
    return sources


def resize_rows(weight: torch.Tensor, sources: Sequence[Sequence[int]]) -> torch.Tensor:
    """A new table whose row i is the mean of `weight`'s rows `sources[i]` (works for a 2-D table or a bias)."""
    index = torch.tensor([j for s in sources for j in s], device=weight.device)
    counts = torch.tensor([len(s) for s in sources], device=weight.device)
    segment = torch.repeat_interleave(torch.arange(len(sources), device=weight.device), counts)
    total = torch.zeros(len(sources), *weight.shape[1:], dtype=torch.float32, device=weight.device)
    total.index_add_(0, segment, weight[index].float())  # sum in fp32, so fp16 tables average without overflow
    return (total / counts.view(-1, *[1] * (weight.dim() - 1))).to(weight.dtype)


@torch.no_grad()
def resize_vocabulary(model: nn.Module, old, new, embedding: str = "tok_emb", head: str | None = "lm_head") -> nn.Module:
    """Give `model` one embedding row (and head row, and bias entry) per token of `new`, in place.

    `embedding` and `head` name the model's `nn.Embedding` and `nn.Linear` (a tied head stays tied); a dataclass
    `model.config` with a `vocab_size` field is updated to match. Rows follow `row_sources`.
    """
    sources = row_sources(old, new)
    emb: nn.Embedding = getattr(model, embedding)
    setattr(model, embedding, nn.Embedding.from_pretrained(resize_rows(emb.weight, sources), freeze=False))
    if head is not None:
        lm: nn.Linear = getattr(model, head)
        resized = nn.Linear(lm.in_features, len(sources), bias=lm.bias is not None, device="meta")  # no wasted init
        tied = lm.weight is emb.weight
        resized.weight = getattr(model, embedding).weight if tied else nn.Parameter(resize_rows(lm.weight, sources))
        if lm.bias is not None:
            resized.bias = nn.Parameter(resize_rows(lm.bias, sources))
        setattr(model, head, resized)
    config = getattr(model, "config", None)
    if dataclasses.is_dataclass(config) and hasattr(config, "vocab_size"):
        model.config = dataclasses.replace(config, vocab_size=len(sources))
    return model
