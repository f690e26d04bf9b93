"""Core subcommands: `quickstart` (the whole pipeline at toy scale) and `info` (a preset's shape and size)."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

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
    """The pipeline at toy scale, each stage a library call: data → tokenizer → pretraining → generation."""
    from mosslite.checkpoint import load_checkpoint
    from mosslite.generate import generate
    from mosslite.tokenizer import load_tokenizer
    from mosslite.train import PretrainConfig, pretrain
    from mosslite.train.data import prepare_data

    start = time.perf_counter()
    out = Path(args.out) / time.strftime("%Y%m%d-%H%M%S")
    print(f"[data] the bilingual world mixed with real English/Chinese text where installed ({args.units:,} units)")
    data_dir, tokenizer_dir = prepare_data(out / "data", total_units=args.units, vocab_size=args.vocab_size,
                                           seed=args.seed)
    tokenizer = load_tokenizer(tokenizer_dir)
    print(f"[tokenizer] byte-level BPE, {tokenizer.vocab_size:,} tokens -> {tokenizer_dir}")
    config = PretrainConfig(name="quickstart", out_dir=str(out / "pretrain"), model=args.preset, seed=args.seed,
                            data_dir=str(data_dir), tokenizer_dir=str(tokenizer_dir), block_size=128,
                            batch_size=16, max_steps=args.steps, lr=3e-3, min_lr=3e-4,
                            warmup_steps=max(1, args.steps // 10), val_every=max(1, args.steps // 4),
                            ckpt_every=args.steps, log_every=max(1, args.steps // 10), progress_bar=False)
    result = pretrain(config, quiet=True)
    history = result.history
    print(f"[pretrain] {args.preset}: {args.steps} steps in {result.wall_time:.0f} s; loss {history.train[0][1]:.2f} "
          f"at step 1 -> validation loss {history.val[-1][1]:.2f} (uniform guessing: "
          f"{math.log(tokenizer.vocab_size):.2f}) -> {result.final_dir}")
    model = load_checkpoint(result.final_dir).eval()
    prompts = ["Kelob lives in", "The city of", "复旦大学"]
    outputs = generate(model, [tokenizer.encode(p) for p in prompts], args.new_tokens, temperature=0.8, top_k=40,
                       seed=args.seed)
    for prompt, ids in zip(prompts, outputs):
        print(f"[generate] {prompt!r} -> {tokenizer.decode(ids)!r}")
    print(f"[done] {time.perf_counter() - start:.0f} s in all; everything is under {out}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("info", help="shape and parameter count of a model preset")
    p.add_argument("--preset", default="toy", choices=list(PRESETS))
    p.set_defaults(func=info)

    p = subparsers.add_parser("quickstart", help="run the whole pipeline at toy scale on a CPU")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/quickstart", help="each run writes a new timestamped folder here")
    p.add_argument("--preset", default="tiny", choices=["toy", "tiny", "small"])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--units", type=int, default=1_000_000, help="size of the training text (words/characters)")
    p.add_argument("--vocab-size", type=int, default=2048)
    p.add_argument("--new-tokens", type=int, default=24)
    p.set_defaults(func=quickstart)

    register_plan(subparsers)


def plan_command(args: argparse.Namespace) -> int:
    p = plan(get_config(args.preset), gpus=args.gpus, strategy=args.strategy, precision=args.precision,
             checkpointing=args.checkpointing, seq_len=args.seq_len, micro_batch=args.micro_batch)
    print(format_plan(p, device_memory_gb=args.gpu_memory, peak_tflops=args.peak_tflops, mfu=args.mfu,
                      tokens=args.tokens))
    return 0


def register_plan(subparsers) -> None:
    p = subparsers.add_parser("plan", help="memory per device, FLOPs and training time for a preset")
    p.add_argument("--preset", default="moss-16b", choices=list(PRESETS))
    p.add_argument("--gpus", type=int, default=1)
    p.add_argument("--gpu-memory", type=float, default=80.0, help="GB per device")
    p.add_argument("--strategy", default="fsdp", choices=["single", "ddp", "fsdp"])
    p.add_argument("--precision", default="bf16-mixed", choices=["32-true", "bf16-mixed", "bf16-true"])
    p.add_argument("--checkpointing", action="store_true", help="activation checkpointing per block")
    p.add_argument("--seq-len", type=int, default=None, help="default: the preset's context")
    p.add_argument("--micro-batch", type=int, default=1)
    p.add_argument("--peak-tflops", type=float, default=989.5, help="per device (H100 SXM bf16 dense: 989.5)")
    p.add_argument("--mfu", type=float, default=0.4)
    p.add_argument("--tokens", type=float, default=None, help="default: 20 tokens per parameter")
    p.set_defaults(func=plan_command)
