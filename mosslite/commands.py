"""Core subcommands: `quickstart` (the whole pipeline at toy scale) and `info` (a preset's shape and size)."""

from __future__ import annotations

import argparse
import time

from mosslite.config import PRESETS, get_config
from mosslite.model import build_model
from mosslite.scaling import format_plan, parameter_breakdown, plan


def info(args: argparse.Namespace) -> int:
    config = get_config(args.preset)
    start = time.perf_counter()
    model = build_model(config, device="meta")
    built = time.perf_counter() - start
    total = model.num_parameters()
    print(f"preset {config.name}: {config.n_layer} layers, d_model {config.n_embd}, {config.n_head} heads "
          f"(head dim {config.head_dim}), context {config.block_size}, vocab {config.vocab_size}")
    print(f"parameters: {total:,} (built on the meta device in {built:.2f} s)")
    for role, count in parameter_breakdown(model).items():
        print(f"  {role:<10} {count:>16,}  {100 * count / total:5.1f}%")
    return 0


def quickstart(args: argparse.Namespace) -> int:
    """The pipeline at toy scale: data → tokenizer → pretraining → SFT → chat → evaluation (mosslite.quickstart)."""
    from mosslite.quickstart import main

    return main(args)


def register(subparsers) -> None:
    p = subparsers.add_parser("info", help="shape and parameter count of a model preset")
    p.add_argument("--preset", default="toy", choices=list(PRESETS))
    p.set_defaults(func=info)

    p = subparsers.add_parser("quickstart", help="run the whole pipeline at toy scale on a CPU, chat included")
    from mosslite.quickstart import add_arguments

    add_arguments(p)
    p.set_defaults(func=quickstart)

    register_plan(subparsers)


def plan_command(args: argparse.Namespace) -> int:
    if args.config:  # a training recipe: plan exactly that run
        from mosslite.train.config import load_config
        from mosslite.train.recipes import format_run_plan

        print(format_run_plan(load_config(args.config), args.gpu_memory, args.mfu))
        return 0
    p = plan(get_config(args.preset), gpus=args.gpus, strategy=args.strategy, precision=args.precision,
             checkpointing=args.checkpointing, seq_len=args.seq_len, micro_batch=args.micro_batch,
             lora_rank=args.lora_rank)
    print(format_plan(p, device_memory_gb=args.gpu_memory or 80.0, peak_tflops=args.peak_tflops, mfu=args.mfu,
                      tokens=args.tokens))
    return 0


def register_plan(subparsers) -> None:
    p = subparsers.add_parser("plan", help="memory per device, FLOPs and training time for a preset")
    p.add_argument("--preset", default="moss-16b", choices=list(PRESETS))
    p.add_argument("--gpus", type=int, default=1)
    p.add_argument("--config", help="a training recipe (YAML): plan that run; the flags below except --gpu-memory "
                                    "and --mfu are then taken from it")
    p.add_argument("--gpu-memory", type=float, help="GB per device (default: 80, or a recipe's device_memory_gb)")
    p.add_argument("--strategy", default="fsdp", choices=["single", "ddp", "fsdp"])
    p.add_argument("--precision", default="bf16-mixed", choices=["32-true", "bf16-mixed", "bf16-true"])
    p.add_argument("--checkpointing", action="store_true", help="activation checkpointing per block")
    p.add_argument("--seq-len", type=int, default=None, help="default: the preset's context")
    p.add_argument("--micro-batch", type=int, default=1)
    p.add_argument("--lora-rank", type=int, default=0, help="fine-tune LoRA adapters of this rank (0: all weights)")
    p.add_argument("--peak-tflops", type=float, default=989.5, help="per device (H100 SXM bf16 dense: 989.5)")
    p.add_argument("--mfu", type=float, default=0.4)
    p.add_argument("--tokens", type=float, default=None, help="default: 20 tokens per parameter")
    p.set_defaults(func=plan_command)
