"""Look inside: does an English sentence and its Chinese counterpart get similar hidden states as the Chinese share grows?

Each fact's English and Chinese statement prefix (the cloze prompts "Retat lives in" / "Retat 住 在": same person,
same relation, no value) go through the model separately; the residual stream after the embedding and after every
block is mean-pooled over the prompt's tokens and centred per language (the mean state of that language's prompts is
subtracted, so a plain "this is Chinese" offset does not count). Each layer reports
    matched     cos(EN prefix of fact f, ZH prefix of f)
    mismatched  cos(EN prefix of f, ZH prefix of another relation of the same person)
    gap         matched - mismatched
Both pairs share the person's name (a token common to both languages), so the gap is meant to measure whether the
Chinese *relation* words land near their English counterparts. It is not 0 without Chinese: prompts of one relation
have one length in each language, so mean pooling weighs the shared name alike within a matched pair. Compare shares
with the 0% control, never with 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mosslite.data.world import World


@torch.inference_mode()
def pooled_states(model, token_lists: list[list[int]]) -> torch.Tensor:
    """Mean-pooled residual stream per layer: [n_layer + 1, len(token_lists), n_embd] (layer 0 = embeddings)."""
    captured: list[torch.Tensor] = []
    modules = [model.tok_emb, *model.blocks]  # called in this order, so `captured` fills in this order
    hooks = [m.register_forward_hook(lambda _m, _i, out: captured.append(out)) for m in modules]
    try:
        out = []
        for ids in token_lists:
            captured.clear()
            model(torch.tensor([ids]))
            out.append(torch.stack([s[0].mean(0) for s in captured]))
    finally:
        for hook in hooks:
            hook.remove()
    return torch.stack(out, dim=1)


@dataclass
class Similarity:
    layers: list[int]
    matched: list[float]
    mismatched: list[float]
    gap: list[float]
    pairs: int
    split: str


def translation_similarity(model, tokenizer, world: World, split: str = "B", limit: int = 96) -> Similarity:
    """Per-layer similarity of each fact's English and Chinese statement prefixes (facts of group `split`; "B"
    facts never appeared in Chinese, so any alignment there was generalised, not memorised)."""
    facts = [f for f in world.facts if world.entities[f.entity].group == split][:limit]
    sep = tokenizer.special_tokens["<|endoftext|>"]
    en = pooled_states(model, [[sep] + tokenizer.encode(world.cloze(f, "en")) for f in facts])
    zh = pooled_states(model, [[sep] + tokenizer.encode(world.cloze(f, "zh")) for f in facts])
    en, zh = en - en.mean(1, keepdim=True), zh - zh.mean(1, keepdim=True)
    # The next relation of the same person (facts of one person are listed together), so only the relation differs.
    other = []
    for i, f in enumerate(facts):
        same = [j for j, g in enumerate(facts) if g.entity == f.entity and j != i]
        other.append(same[0] if same else i)
    cos = torch.nn.functional.cosine_similarity
    matched = cos(en, zh, dim=-1).mean(1)
    mismatched = cos(en, zh[:, other], dim=-1).mean(1)
    return Similarity(list(range(en.shape[0])), [round(float(v), 4) for v in matched],
                      [round(float(v), 4) for v in mismatched], [round(float(v), 4) for v in matched - mismatched],
                      len(facts), split)
