"""The real-data probe: English text (Shakespeare) with a small share of People's Daily, then HSK sentences as prompts.

This is the anecdote's setting with real text instead of the world: Chinese news with no parallel text and no
facts in common with the English. Two things are recorded for each pretrained model:
  continuations  what the model writes after a Chinese HSK sentence (greedy), shown as it is;
  choice         for a Chinese sentence, is its own English translation more likely to follow than 4 other HSK
                 translations? Scored by pointwise mutual information, log p(en | zh) - log p(en), so a short or
                 common English sentence gets no head start; chance is 20%.
"""

from __future__ import annotations

import random

from mosslite.experiments.translation.design import cache_key
from mosslite.experiments.translation.pipeline import _done, _finish, load, stage_dir
from mosslite.experiments.translation.score import continuation_logprobs


def real_mix(zh: float) -> dict[str, float]:
    return {"shakespeare": 1.0} if zh == 0 else {"shakespeare": 1.0 - zh, "peoples_daily": zh}


def realdata_probe(zh: float = 0.02, size: str = "tiny", steps: int = 1500, seed: int = 0,
                   total_units: int = 2_000_000, prompts: int = 12, choices: int = 200, root=None,
                   progress: bool = False) -> dict:
    """Pretrain (cached) on the real mix at Chinese share `zh`, then run both probes; returns a JSON-able dict."""
    from mosslite.checkpoint import load_checkpoint
    from mosslite.data.corpora import hsk_pairs
    from mosslite.generate import generate
    from mosslite.tokenizer import load_tokenizer
    from mosslite.train import PretrainConfig, pretrain
    from mosslite.train.data import prepare_data

    key = cache_key("real", real_mix(zh), size, steps, seed, total_units, prompts, choices)
    folder = stage_dir("real", key, root)
    info = _done(folder)
    if info is not None:
        return info
    data_dir, tokenizer_dir = prepare_data(folder / "corpus", shares=real_mix(zh), total_units=total_units,
                                           vocab_size=4096, seed=seed)
    run_dir = folder / "run"
    config = PretrainConfig(name=f"real-{size}", out_dir=str(run_dir), seed=seed, model=size, data_dir=str(data_dir),
                            tokenizer_dir=str(tokenizer_dir), block_size=128, batch_size=16, max_steps=steps,
                            lr=2e-3, min_lr=2e-4, warmup_steps=min(100, steps // 5), val_every=steps, val_batches=4,
                            ckpt_every=steps, keep_checkpoints=1, progress_bar=progress)
    load_before = load()
    result = pretrain(config, quiet=not progress)
    model = load_checkpoint(run_dir / "final").eval()
    tokenizer = load_tokenizer(tokenizer_dir)
    pairs = hsk_pairs()
    rng = random.Random(seed)
    shown = rng.sample(pairs, prompts)
    eot = tokenizer.special_tokens["<|endoftext|>"]
    outputs = generate(model, [[eot] + tokenizer.encode(p["zh"] + "\n") for p in shown], 40, stop_tokens=[eot])
    continuations = [{"zh": p["zh"], "en": p["en"], "level": p["level"],
                      "continuation": tokenizer.decode([t for t in out if t != eot])} for p, out in zip(shown, outputs)]
    picked = rng.sample(pairs, choices)
    right = 0
    for i, pair in enumerate(picked):
        others = [p["en"] for p in rng.sample(picked[:i] + picked[i + 1:], 4)]
        options = [[eot] + tokenizer.encode(" " + e) for e in [pair["en"]] + others]
        given = continuation_logprobs(model, [[eot] + tokenizer.encode(pair["zh"] + "\n")], [o[1:] for o in options])
        alone = continuation_logprobs(model, [[eot, *tokenizer.encode("\n")]], [o[1:] for o in options])
        right += int((given - alone)[0].argmax()) == 0
    info = {"zh": zh, "size": size, "steps": steps, "seed": seed, "mix": real_mix(zh),
            "wall_time": round(result.wall_time, 1), "load": [load_before, load()],
            "final_loss": result.history.train[-1][1] if result.history.train else None,
            "val_loss": result.history.val, "choice_accuracy": round(right / choices, 4), "choices": choices,
            "chance": 0.2, "tokens_per_zh_char": round(zh_tokens_per_char(tokenizer, [p["zh"] for p in picked]), 3),
            "continuations": continuations}
    return _finish(folder, info)


def zh_tokens_per_char(tokenizer, texts: list[str]) -> float:
    """Tokens per character of Chinese sentences (about 3 means bytes only: the tokenizer learned no Chinese)."""
    return sum(len(tokenizer.encode(t)) for t in texts) / max(1, sum(len(t) for t in texts))
