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


def one_variant(finetune: str, run: str, out: str, steps: int | None, questions: int | None, smoke: bool, seed: int,
                queue) -> None:
    """Fine-tune the quickstart's base as the quickstart does (but `finetune` and `steps`) and evaluate, in this
    (child) process; put the figures on `queue`."""
    from dataclasses import replace

    from mosslite.chat import COMPACT_META
    from mosslite.checkpoint import load_checkpoint
    from mosslite.evaluate import evaluate
    from mosslite.quickstart import SMOKE, Recipe, held_out_questions, sft_config
    from mosslite.tokenizer import load_tokenizer
    from mosslite.train.sft import sft

    recipe = replace(SMOKE if smoke else Recipe(), finetune=finetune, questions=questions)
    recipe = replace(recipe, sft_steps=steps) if steps else recipe
    tokenizer = Path(run) / "data" / "tokenizer"
    config = sft_config(recipe, Path(out), seed, Path(run) / "pretrain" / "final", tokenizer)
    result = sft(config, quiet=True)
    total, trainable = result.total_parameters, result.trainable_parameters
    lora_extra = trainable if finetune == "lora" else 0
    state_bytes = 4 * (total + lora_extra + 3 * trainable)  # fp32 weights, gradients, AdamW exp_avg + exp_avg_sq
    held_out = held_out_questions(recipe, seed)
    evaluation = evaluate(load_checkpoint(result.final_dir), load_tokenizer(tokenizer), held_out, meta=COMPACT_META,
                          max_new_tokens=recipe.max_new_tokens, think=False)
    queue.put({"finetune": finetune, "trainable": trainable, "total": total, "state_mb": state_bytes / 2**20,
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "sft_s": result.wall_time,
               "val_loss": result.history.val[-1][1] if result.history.val else float("nan"),
               "accuracy": evaluation.accuracy, "questions": len(held_out)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="a finished quickstart run folder (runs/quickstart/<stamp>)")
    parser.add_argument("--steps", type=int, default=None, help="SFT steps for both (default: the quickstart's)")
    parser.add_argument("--questions", type=int, default=None, help="held-out questions (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="the quickstart run's --seed (its world)")
    parser.add_argument("--smoke", action="store_true", help="build a toy quickstart base first (seconds)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sft-bench-"))
    run = Path(args.run) if args.run else None
    if run is None:
        if not args.smoke:
            parser.error("pass --run runs/quickstart/<stamp> (run `mosslite quickstart` first) or --smoke")
        from mosslite.quickstart import SMOKE
        from mosslite.quickstart import run as quickstart

        quickstart(SMOKE, work / "quickstart", seed=args.seed, say=lambda line: None)
        run = work / "quickstart"
    rows = []
    context = mp.get_context("spawn")
    for finetune in ("full", "lora"):
        queue = context.Queue()
        child = context.Process(target=one_variant, args=(finetune, str(run), str(work / finetune), args.steps,
                                                          args.questions, args.smoke, args.seed, queue))
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
