"""Sizing a model before running it: where the parameters go (the planner grows here: FLOPs, memory, time)."""

from __future__ import annotations

from torch import nn


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
