"""Vocabulary extension, as MOSS did it: keep an English tokenizer's merges and append merges learned on Chinese.

An English byte-level BPE spends about one token per UTF-8 byte of Chinese (three per character), so Chinese text
is long, slow and expensive. MOSS started from CodeGen's GPT-2 vocabulary and appended about 56K mostly-Chinese
tokens. The model's embedding and head then need rows for the new tokens: `resize_vocabulary` starts each new row
at the mean of the rows of the old pieces the token is made of, so the model's first guess for a new token is what
it already believed about its pieces, not noise.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from mosslite.tokenizer.bpe import ScratchBPE
from mosslite.tokenizer.fast import FastBPE, scratch_from_json


def chars_per_token(tokenizer, texts: Iterable[str]) -> float:
    """Compression: characters of text per token (higher is cheaper)."""
    texts = list(texts)
    return sum(len(t) for t in texts) / max(1, sum(len(tokenizer.encode(t)) for t in texts))


def extend_vocabulary(tokenizer, texts: Iterable[str], added: int) -> FastBPE:
    """A tokenizer with the old merges unchanged and `added` new merges learned on `texts` (special tokens move to
    the end, as they always sit last)."""
    base = tokenizer if isinstance(tokenizer, ScratchBPE) else scratch_from_json(tokenizer.to_json())
    extended = ScratchBPE.train(texts, base.vocab_size + added, list(base.special_tokens), start=base)
    return FastBPE(extended.to_json())


@torch.no_grad()
def resize_vocabulary(model: nn.Module, old, new) -> nn.Module:
    """Give `model` (with `tok_emb`, `lm_head` and a `config`) one row per token of `new`, in place.

    A token `old` also has keeps its rows (found by its bytes, so moved special tokens keep theirs too); a new
    token's rows start as the mean of the rows of its pieces under the old tokenizer.
    """
    pieces = old if isinstance(old, ScratchBPE) else scratch_from_json(old.to_json())
    old_ids = {old.token_bytes(i): i for i in range(old.vocab_size)}
    old_specials = {v: k for k, v in old.special_tokens.items()}
    emb, head = model.tok_emb.weight, model.lm_head.weight
    bias = model.lm_head.bias
    tied = head is emb
    E = emb.shape[1]
    new_emb = torch.empty(new.vocab_size, E, dtype=emb.dtype, device=emb.device)
    new_head = None if tied else torch.empty_like(new_emb)
    new_bias = None if bias is None else torch.empty(new.vocab_size, dtype=bias.dtype, device=bias.device)
    for i in range(new.vocab_size):
        token = new.token_bytes(i)
        special = next((old.special_tokens[t] for t, j in new.special_tokens.items() if j == i
                        and t in old.special_tokens), None)
        if special is not None:
            source = [special]
        elif token in old_ids and old_ids[token] not in old_specials:
            source = [old_ids[token]]
        else:
            source = pieces.encode_bytes(token)  # bytes, not text: a new token may be part of a character
        new_emb[i] = emb[source].mean(0)
        if new_head is not None:
            new_head[i] = head[source].mean(0)
        if new_bias is not None:
            new_bias[i] = bias[source].mean(0)
    model.tok_emb = nn.Embedding.from_pretrained(new_emb, freeze=False)
    model.lm_head = nn.Linear(E, new.vocab_size, bias=bias is not None, device=emb.device, dtype=emb.dtype)
    if tied:
        model.lm_head.weight = model.tok_emb.weight
    else:
        model.lm_head.weight = nn.Parameter(new_head)
    if new_bias is not None:
        model.lm_head.bias = nn.Parameter(new_bias)
    if hasattr(model, "config"):
        model.config = model.config.with_(vocab_size=new.vocab_size)
    return model
