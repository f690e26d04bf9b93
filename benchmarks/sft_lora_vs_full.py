"""LoRA vs full fine-tuning on the same base, data, steps and evaluation: what trains, what it costs, what it learns.

Each variant runs `mosslite.train.sft` in a fresh process (so its peak resident memory is its own), then asks the
quickstart's held-out questions (group-B facts, never in SFT) through the chat format. Printed per variant:
trainable parameters, training-state memory (weights + gradients + AdamW's two moments, counted), peak RSS of the
process (measured), SFT wall time, final validation loss on assistant tokens, and held-out accuracy.

Run: `.venv/bin/python benchmarks/sft_lora_vs_full.py --run runs/quickstart/<stamp>` (a finished quickstart run:
its pretrain/final is the base and its data/tokenizer the tokenizer), or `--smoke` to build a toy base first.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import tempfile
from pathlib import Path


def one_variant(finetune: str, base: str, tokenizer: str, out: str, steps: int, questions: int, smoke: bool,
                queue) -> None:
    """Fine-tune and evaluate in this (child) process; put the figures on `queue`."""
    from mosslite.chat import COMPACT_META
    from mosslite.checkpoint import load_checkpoint
    from mosslite.data.world import World, WorldConfig
    from mosslite.evaluate import evaluate
    from mosslite.quickstart import SMOKE, Recipe, world_settings
    from mosslite.tokenizer import load_tokenizer
    from mosslite.train.sft import sft
    from mosslite.train.sft_config import SFTConfig

    recipe = SMOKE if smoke else Recipe()
    world = world_settings(recipe, seed=0)
    lr = recipe.sft_lr * (3 if finetune == "lora" else 1)  # adapters start at zero: they take a larger rate
    config = SFTConfig(name=finetune, out_dir=out, base=base, tokenizer_dir=tokenizer, world=world,
                       world_dialogues=recipe.dialogues, meta="compact", block_size=recipe.block_size,
                       finetune=finetune, batch_size=16, max_steps=steps, lr=lr, min_lr=lr / 10,
                       warmup_steps=max(1, steps // 10), val_every=steps, ckpt_every=steps, progress_bar=False)
    result = sft(config, quiet=True)
    total, trainable = result.total_parameters, result.trainable_parameters
    lora_extra = trainable if finetune == "lora" else 0
    state_bytes = 4 * (total + lora_extra + 3 * trainable)  # fp32 weights, gradients, AdamW exp_avg + exp_avg_sq
    held_out = [q for q in World(WorldConfig(**world)).questions() if q.split == "B/en"][:questions]
    evaluation = evaluate(load_checkpoint(result.final_dir), load_tokenizer(tokenizer), held_out, meta=COMPACT_META,
                          max_new_tokens=recipe.max_new_tokens)
    queue.put({"finetune": finetune, "trainable": trainable, "total": total, "state_mb": state_bytes / 2**20,
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "sft_s": result.wall_time,
               "val_loss": result.history.val[-1][1] if result.history.val else float("nan"),
               "accuracy": evaluation.accuracy, "questions": len(held_out)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="a finished quickstart run folder (runs/quickstart/<stamp>)")
    parser.add_argument("--steps", type=int, default=None, help="SFT steps (default: the quickstart's)")
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--smoke", action="store_true", help="build a toy quickstart base first (seconds)")
    args = parser.parse_args()
    from mosslite.quickstart import SMOKE, Recipe

    recipe = SMOKE if args.smoke else Recipe()
    work = Path(tempfile.mkdtemp(prefix="sft-bench-"))
    run = Path(args.run) if args.run else None
    if run is None:
        if not args.smoke:
            parser.error("pass --run runs/quickstart/<stamp> (run `mosslite quickstart` first) or --smoke")
        from mosslite.quickstart import run as quickstart

        quickstart(SMOKE, work / "quickstart", say=lambda line: None)
        run = work / "quickstart"
    base, tokenizer = run / "pretrain" / "final", run / "data" / "tokenizer"
    steps = args.steps or recipe.sft_steps
    rows = []
    context = mp.get_context("spawn")
    for finetune in ("full", "lora"):
        queue = context.Queue()
        child = context.Process(target=one_variant, args=(finetune, str(base), str(tokenizer),
                                                          str(work / finetune), steps, args.questions, args.smoke,
                                                          queue))
        child.start()
        rows.append(queue.get())
        child.join()
    print(f"{'':>5} {'trainable':>12} {'of':>11} {'state MB':>9} {'peak RSS MB':>12} {'SFT s':>7} "
          f"{'val loss':>9} {'held-out acc':>13}")
    for r in rows:
        print(f"{r['finetune']:>5} {r['trainable']:>12,} {r['total']:>11,} {r['state_mb']:>9.1f} "
              f"{r['peak_rss_mb']:>12.0f} {r['sft_s']:>7.1f} {r['val_loss']:>9.3f} "
              f"{r['accuracy']:>12.1%} of {r['questions']}")
    full, lora = rows
    print(f"LoRA trains {lora['trainable'] / full['trainable']:.1%} of the weights, "
          f"{lora['state_mb'] / full['state_mb']:.2f}x the training-state memory, "
          f"{lora['sft_s'] / full['sft_s']:.2f}x the time")


if __name__ == "__main__":
    main()
