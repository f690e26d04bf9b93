"""`mosslite pretrain --config configs/pretrain/<name>.yaml [--key value ...] [--resume]` (and `mosslite sft`).

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
    p.add_argument("--config", required=True, help="a YAML file, e.g. configs/sft/toy.yaml")
    p.add_argument("--resume", action="store_true", help="continue the run in out_dir from its newest checkpoint")
    p.set_defaults(func=run_sft, overrides=[])


SFT_HELP = """`mosslite sft --config configs/sft/<name>.yaml [--key value ...] [--resume]`.

Every key of `SFTConfig` (mosslite/train/sft_config.py) can be overridden (`--lr 3e-4`, `--finetune lora`,
`--world.n_entities 60`); the config, the base checkpoint, the tokenizer and the data are checked before training.
"""
