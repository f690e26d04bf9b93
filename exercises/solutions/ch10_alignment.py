"""Reference solutions for chapter 10 (the library's versions: mosslite/align.py and mosslite/evaluate.py)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

REFUSALS = ("don't know", "do not know", "不知道", "can't share", "cannot share", "不能透露")


def sequence_logprobs(logits: Tensor, labels: Tensor, ignore_index: int = -100) -> Tensor:
    mask = labels != ignore_index
    logp = torch.log_softmax(logits.float(), dim=-1)
    picked = logp.gather(-1, labels.masked_fill(~mask, 0).unsqueeze(-1)).squeeze(-1)
    return (picked * mask).sum(-1)


def dpo_loss(policy_chosen: Tensor, policy_rejected: Tensor, reference_chosen: Tensor, reference_rejected: Tensor,
             beta: float) -> Tensor:
    margin = beta * ((policy_chosen - reference_chosen) - (policy_rejected - reference_rejected))
    return -F.logsigmoid(margin).mean()


def classify(answer: str, gold: str | None, values: Sequence[str]) -> str:
    text = answer.lower().replace("\u2019", "'")
    if any(phrase in text for phrase in REFUSALS):
        return "refusal"
    named = [v for v in values if re.search(rf"(?<![A-Za-z0-9]){re.escape(v.lower())}(?![A-Za-z0-9])", text)]
    if gold is not None and named == [gold]:
        return "correct"
    return "hallucination" if gold is None else "wrong"


def hallucination_rate(answers: Sequence[str], golds: Sequence[str | None], values: Sequence[Sequence[str]]) -> float:
    unknown = [classify(a, g, v) for a, g, v in zip(answers, golds, values) if g is None]
    return sum(c == "hallucination" for c in unknown) / len(unknown) if unknown else float("nan")
