"""Reference solutions for chapter 5 (the library's versions live in mosslite/chat.py and mosslite/lora.py)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from mosslite.chat import END_TOKENS, FIELDS, HEADERS, IGNORE_INDEX, WRITER, Conversation


def _pieces(conversation: Conversation, open_field: str | None = None) -> list[tuple[str, str, str]]:
    """(text, role, field): role is "meta", "header", "content", "end" or "newline"."""
    out = [(conversation.meta.render(), "meta", "")]
    for i, turn in enumerate(conversation.turns):
        for name in FIELDS:
            out.append((HEADERS[name], "header", name))
            if i == len(conversation.turns) - 1 and name == open_field:
                return out
            out += [(" " + getattr(turn, name), "content", name), (END_TOKENS[name], "end", name),
                    ("\n", "newline", name)]
    return out


def render(conversation: Conversation, open_field: str | None = None) -> str:
    return "".join(text for text, _, _ in _pieces(conversation, open_field))


def _trains(role: str, name: str, policy: str) -> bool:
    if policy == "moss":
        return role != "meta" and not (role == "content" and name == "results")
    if policy == "assistant":
        return role in ("content", "end") and WRITER[name] == "assistant"
    raise ValueError(f"unknown policy {policy!r}; use 'moss' or 'assistant'")


def loss_mask(conversation: Conversation, tokenizer, policy: str) -> tuple[list[int], list[int]]:
    ids, labels = [], []
    for text, role, name in _pieces(conversation):
        piece = [tokenizer.special_tokens[text]] if role == "end" else tokenizer.encode(text)
        keep = _trains(role, name, policy)
        ids += piece
        labels += piece if keep else [IGNORE_INDEX] * len(piece)
    return ids, labels


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank: int = 8, alpha: float = 16.0) -> None:
        super().__init__()
        self.base = base.requires_grad_(False)
        self.scale = alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))

    def forward(self, x: Tensor) -> Tensor:
        return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale

    @torch.no_grad()
    def merge(self) -> nn.Linear:
        merged = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None)
        merged.weight.copy_(self.base.weight + self.lora_b @ self.lora_a * self.scale)
        if self.base.bias is not None:
            merged.bias.copy_(self.base.bias)
        return merged
