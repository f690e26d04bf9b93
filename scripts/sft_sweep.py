"""Chapter 5's sweep: full fine-tuning and LoRA at several steps, rates and ranks, all from one pretrained base.

For each variant it prints the trainable parameters, the SFT wall time, the final validation loss (assistant tokens
of group-A conversations), the held-out accuracy (group-B questions in the chat format, `mosslite.evaluate`) and the
held-out facts the model still completes in pretraining's own phrasing (a cloze, to measure forgetting). The sizes are
notebooks/05_instruction_tuning.ipynb's, and its cached base is reused when present.

Usage: .venv/bin/python scripts/sft_sweep.py full:150:1e-3 lora:150:1e-2 lora:150:1e-2:32 lora:150:1e-2:8:lm_head
(each variant is finetune:steps:lr[:rank[:extra target]]; about two minutes per variant on one CPU thread)
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
from pathlib import Path

import mosslite
from mosslite.chat import COMPACT_META
from mosslite.checkpoint import load_checkpoint
from mosslite.evaluate import evaluate, is_correct
from mosslite.generate import generate
from mosslite.lora import DEFAULT_TARGETS
from mosslite.quickstart import Recipe, held_out_questions, prepare, pretrain_base, sft_config
from mosslite.tokenizer import load_tokenizer
from mosslite.train import replace
from mosslite.train.sft import sft

# The notebook's sizes, and the fields its cache key is made of (so both find the same base).
RECIPE = Recipe(entities=24, steps=500, dialogues=1500, sft_steps=150, questions=None, max_new_tokens=24)
BASE_FIELDS = ("entities", "docs_per_fact", "en_qa", "zh_share", "vocab_size", "preset", "block_size", "batch_size",
               "steps", "lr", "dialogues")


def base_root(recipe: Recipe) -> Path:
    """The notebook's cache folder for this recipe's data, tokenizer and base; pretrains the base if missing."""
    key = hashlib.sha256(repr([getattr(recipe, f) for f in BASE_FIELDS]).encode()).hexdigest()[:10]
    root = Path(mosslite.cache_dir()) / "runs" / f"05_instruction_tuning-{key}"
    data_dir, tokenizer_dir = prepare(recipe, root, seed=0)
    if not (root / "pretrain" / "final" / "model.safetensors").is_file():
        shutil.rmtree(root / "pretrain", ignore_errors=True)
        pretrain_base(recipe, root, 0, data_dir, tokenizer_dir)
    return root


def cloze_correct(model, tokenizer, questions) -> int:
    """Held-out facts completed in pretraining's phrasing ("Furemar is a city in" → the gold value, nothing else)."""
    outputs = generate(model, [tokenizer.encode(q.cloze_en) for q in questions], 8)
    first = [tokenizer.decode(out).split("\n")[0].split(".")[0] for out in outputs]
    return sum(is_correct(text, q) for text, q in zip(first, questions))


def main(variants: list[str]) -> None:
    root = base_root(RECIPE)
    tokenizer_dir = root / "data" / "tokenizer"
    tokenizer = load_tokenizer(tokenizer_dir)
    questions = held_out_questions(RECIPE, seed=0)
    work = Path(tempfile.mkdtemp(prefix="sft-sweep-"))
    base = load_checkpoint(root / "pretrain" / "final").eval()
    chat = evaluate(base, tokenizer, questions, meta=COMPACT_META, max_new_tokens=RECIPE.max_new_tokens, think=False)
    print(f"base: cloze {cloze_correct(base, tokenizer, questions)}/{len(questions)}; chat {chat.accuracy:.3f}")
    for spec in variants:
        finetune, steps, lr, *rest = spec.split(":")
        changes: dict = {"lora_rank": int(rest[0])} if rest else {}
        if len(rest) > 1:
            changes["lora_targets"] = [*DEFAULT_TARGETS, rest[1]]
        steps, lr = int(steps), float(lr)
        config = replace(sft_config(RECIPE, work, 0, root / "pretrain" / "final", tokenizer_dir),
                         out_dir=str(work / spec.replace(":", "_")), finetune=finetune, lr=lr, min_lr=lr / 10,
                         max_steps=steps, warmup_steps=max(1, steps // 10), val_every=steps, ckpt_every=steps,
                         **changes)
        result = sft(config, quiet=True)
        model = load_checkpoint(result.final_dir).eval()
        chat = evaluate(model, tokenizer, questions, meta=COMPACT_META, max_new_tokens=RECIPE.max_new_tokens,
                        think=False)
        print(f"{spec:24} trainable {result.trainable_parameters:>9,}  SFT {result.wall_time:4.0f} s  "
              f"val loss {result.history.val[-1][1]:.3f}  chat {chat.accuracy:.3f} "
              f"({sum(r.correct for r in chat.records)}/{len(questions)})  "
              f"cloze {cloze_correct(model, tokenizer, questions)}/{len(questions)}", flush=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
