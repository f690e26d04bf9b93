"""`mosslite pretrain --config configs/pretrain/<name>.yaml [--key value ...] [--resume]`, and `mosslite sft|align`.

Every key of `PretrainConfig` can be overridden on the command line (`--lr 3e-4`, `--model_args.n_layer 8`); the
config is checked in full before anything is built, so a typo fails in a second with the key named.
"""

from __future__ import annotations

import argparse

from mosslite.train.config import load_config


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.overrides)
    from mosslite.train.run import pretrain  # Lightning loads only once the config is known to be good

    result = pretrain(config, resume=args.resume)
    if result.module.global_rank == 0:
        h = result.history
        if h.train:
            print(f"[pretrain] {config.name}: step {h.train[-1][0]}, train loss {h.train[-1][1]:.4f}"
                  + (f", val loss {h.val[-1][1]:.4f}" if h.val else "")
                  + (f", {h.tokens_per_s[-1][1]:,.0f} tokens/s" if h.tokens_per_s else "")
                  + (f", MFU {100 * h.mfu[-1][1]:.1f}%" if h.mfu else "") + f" in {result.wall_time:.1f} s")
        print(f"[pretrain] resumable checkpoint: {result.checkpoint}; final weights: {result.final_dir}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("pretrain", help="pretrain a model on packed tokens (Lightning; CPU to many GPUs)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="a YAML file, e.g. configs/pretrain/toy.yaml")
    p.add_argument("--resume", action="store_true", help="continue the run in out_dir from its newest checkpoint")
    p.set_defaults(func=run, overrides=[])
    register_sft(subparsers)
    register_align(subparsers)


def run_sft(args: argparse.Namespace) -> int:
    from mosslite.train.sft_config import load_sft_config

    config = load_sft_config(args.config, args.overrides)
    from mosslite.train.sft import sft  # Lightning loads only once the config is known to be good

    result = sft(config, resume=args.resume)
    if result.module.global_rank == 0:
        for line in result.data.lines():
            print(f"[sft] {line}")
        h = result.history
        print(f"[sft] {config.name} ({config.finetune}, {result.trainable_parameters:,} of "
              f"{result.total_parameters:,} parameters trained): step {h.train[-1][0]}, train loss "
              f"{h.train[0][1]:.4f} -> {h.train[-1][1]:.4f}" + (f", val loss {h.val[-1][1]:.4f}" if h.val else "")
              + f" in {result.wall_time:.1f} s")
        print(f"[sft] resumable checkpoint: {result.checkpoint}; final weights: {result.final_dir} "
              f"(chat with: mosslite chat --checkpoint {result.final_dir})")
    return 0


def register_sft(subparsers) -> None:
    p = subparsers.add_parser("sft", help="instruction-tune a checkpoint on MOSS-format conversations (full/LoRA)",
                              description=SFT_HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="a YAML file, e.g. configs/sft/tiny.yaml")
    p.add_argument("--resume", action="store_true", help="continue the run in out_dir from its newest checkpoint")
    p.set_defaults(func=run_sft, overrides=[])


SFT_HELP = """`mosslite sft --config configs/sft/<name>.yaml [--key value ...] [--resume]`.

Every key of `SFTConfig` (mosslite/train/sft_config.py) can be overridden (`--lr 3e-4`, `--finetune lora`,
`--world.n_entities 60`); the config, the base checkpoint, the tokenizer and the data are checked before training.
"""


def run_align(args: argparse.Namespace) -> int:
    from mosslite.train.align_config import load_align_config

    config = load_align_config(args.config, args.overrides)
    from mosslite.align import align  # Lightning loads only once the config is known to be good

    result = align(config, resume=args.resume)
    if result.module.global_rank == 0:
        for line in result.data.lines():
            print(f"[align] {line}")
        h, p = result.history, result.preference
        val = (f", val reward margin {p.val[-1][1]:.3f}, chosen preferred in {100 * p.val[-1][2]:.0f}% of pairs"
               if p.val else "")
        print(f"[align] {config.name} (DPO, beta {config.beta}, {config.finetune}): step {h.train[-1][0]}, loss "
              f"{h.train[0][1]:.4f} -> {h.train[-1][1]:.4f}{val} in {result.wall_time:.1f} s")
        print(f"[align] resumable checkpoint: {result.checkpoint}; final weights: {result.final_dir} "
              f"(chat with: mosslite chat --checkpoint {result.final_dir})")
    return 0


def register_align(subparsers) -> None:
    p = subparsers.add_parser("align", help="preference-tune (DPO) a chat model on {prompt, chosen, rejected} pairs",
                              description=ALIGN_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="a YAML file, e.g. configs/align/tiny.yaml")
    p.add_argument("--resume", action="store_true", help="continue the run in out_dir from its newest checkpoint")
    p.set_defaults(func=run_align, overrides=[])


ALIGN_HELP = """`mosslite align --config configs/align/<name>.yaml [--key value ...] [--resume]`.

Direct Preference Optimisation of `base` (an SFT model) against a frozen reference (by default the same model).
Every key of `AlignConfig` (mosslite/train/align_config.py) can be overridden (`--beta 0.5`, `--finetune lora`).
"""
