"""One-seed supplement to the first version of `mosslite experiment alignment` (no forum threads in pretraining):
the sft and sft+idk arms with full fine-tuning instead of LoRA (so the embeddings and the output head, which LoRA
freezes, can learn to write a refusal), and a milder DPO (lr 2e-3, 80 steps) from the full-fine-tuned sft+idk model.
Writes results/alignment/full_ft.json.

    python scripts/alignment_full_ft.py [--steps 150] [--lr 1e-3] [--arms sft idk] [--dpo]
"""

import argparse
import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

from mosslite import cache_dir
from mosslite.data.honesty import honesty_probes
from mosslite.data.world import World, WorldConfig
from mosslite.experiments import alignment as E
from mosslite.tokenizer import load_tokenizer
from mosslite.train.sft import sft
from mosslite.train.sft_config import SFTConfig


def full_sft(recipe, world, base, tok, cache, idk: bool, steps: int, lr: float) -> tuple[Path, dict]:
    folder = cache / f"full-{'idk' if idk else 'sft'}-{E._key(steps, lr, recipe.dialogues, str(base))}"
    if (folder / "done.json").is_file():
        return folder / "final", json.loads((folder / "done.json").read_text())
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    n = E._write_sft_data(world, recipe, 0, idk, folder / "dialogues.jsonl")
    settings = {**E._tune_settings(recipe, 0, steps, lr, recipe.batch_size), "finetune": "full"}
    result = sft(SFTConfig(name="full", out_dir=str(folder), base=str(base), tokenizer_dir=str(tok),
                           world_dialogues=0, jsonl=[str(folder / "dialogues.jsonl")], **settings), quiet=True)
    shutil.rmtree(folder / "checkpoints", ignore_errors=True)
    h = result.history
    info = {"wall_s": round(result.wall_time, 1), "load": round(os.getloadavg()[0], 2), "dialogues": n,
            "train_loss": [round(h.train[0][1], 3), round(h.train[-1][1], 3)]}
    (folder / "done.json").write_text(json.dumps(info))
    return folder / "final", info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--arms", nargs="+", default=["sft", "idk"], choices=["sft", "idk"])
    parser.add_argument("--dpo", action="store_true", help="also DPO from the full sft+idk model")
    args = parser.parse_args()
    # the recipe of the chapter's first version (no forum threads in pretraining), whose LoRA arms never refused
    recipe = replace(E.Recipe(), forum=0, pretrain_steps=600, idk_dialogues=600, sft_steps=300,
                     idk_contrast=False)
    world = World(WorldConfig(**E.world_settings(recipe)))
    base, tok, _ = E.pretrained_base(recipe, world, Path(cache_dir()) / "alignment")
    cache = base.parent.parent
    tokenizer = load_tokenizer(tok)
    probes = honesty_probes(world, recipe.n_known, recipe.n_unknown, recipe.n_benign)
    start, out = time.perf_counter(), {}
    for arm, idk in [(f"sft{'+idk' if a == 'idk' else ''} (full)", a == "idk") for a in args.arms]:
        final, info = full_sft(recipe, world, base, tok, cache, idk, args.steps, args.lr)
        out[arm] = {"train": info, **E.measure(final, tokenizer, world, probes, recipe, with_calibration=True)}
        print(arm, {k: out[arm][k] for k in E.HEADLINE}, info, flush=True)
        if idk and args.dpo:
            mild = replace(recipe, dpo_lr=2e-3, dpo_steps=80)
            dpo, dpo_info = E.aligned(mild, world, final, tok, cache, 0, recipe.beta, recipe.pair_kinds)
            out["sft+idk (full) + dpo"] = {"train": dpo_info, **E.measure(dpo, tokenizer, world, probes, mild,
                                                                           with_calibration=True)}
            print("sft+idk (full) + dpo", {k: out["sft+idk (full) + dpo"][k] for k in E.HEADLINE}, dpo_info,
                  flush=True)
    out["settings"] = {"steps": args.steps, "lr": args.lr, "seed": 0, "arms": args.arms,
                       "dpo": {"lr": 2e-3, "steps": 80, "beta": recipe.beta} if args.dpo else None}
    out["wall_s"] = round(time.perf_counter() - start, 1)
    Path("results/alignment/full_ft.json").write_text(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
