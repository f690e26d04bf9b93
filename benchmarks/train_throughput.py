"""Training throughput: a mosslite Lightning step vs a plain PyTorch loop on the same model, batches and optimizer.

Both sides run the same `Transformer`, fused AdamW with the same parameter groups, the warmup + cosine schedule,
clipping at 1.0, one loss read per step, and the same batches from the same packed corpus. The Lightning side is
`mosslite.train.pretrain` with all of mosslite's callbacks (loss, throughput, checkpointing at the end), timed from
the end of a warm-up step to the end of the last step. Runs alternate and the best of each is kept, so a busy
neighbour slows both sides alike. Also prints the achieved MFU against this CPU's measured matmul peak.
Target: Lightning overhead at most 10%.

Run: `.venv/bin/python benchmarks/train_throughput.py [--presets tiny small] [--steps 30] [--repeats 3]`
"""

from __future__ import annotations

import argparse
import tempfile
import time

import lightning as L
import torch

from mosslite.data.pack import PackedTokens
from mosslite.model import build_model, lm_loss
from mosslite.scaling import training_flops_per_token
from mosslite.train import (
    PretrainConfig,
    config_from_dict,
    cosine_lr,
    measure_cpu_flops,
    param_groups,
    pretrain,
)
from mosslite.train.data import GlobalBatches, prepare_data

WARMUP = 3  # steps before the clock starts: allocator, thread pool and first-touch costs


def plain_loop(config: PretrainConfig) -> float:
    """Tokens/s of the textbook loop: batch, forward, loss, backward, clip, step, schedule."""
    model_config = config.model_config(vocab_size=int(PackedTokens(f"{config.data_dir}/train.bin").meta["vocab_size"]))
    torch.manual_seed(config.seed)
    model = build_model(model_config)
    optimizer = torch.optim.AdamW(param_groups(model, config.weight_decay), lr=config.lr,
                                  betas=(config.beta1, config.beta2), fused=True)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: cosine_lr(
        s, config.lr, config.min_lr, config.warmup_steps, config.max_steps) / config.lr)
    batches = GlobalBatches(PackedTokens(f"{config.data_dir}/train.bin"), config.batch_size, config.context,
                            config.seed, rank=0, world=1)
    for step in range(config.max_steps):
        if step == WARMUP:
            start = time.perf_counter()
        x, y = batches[step]
        loss = lm_loss(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        schedule.step()
        loss.item()
    return config.batch_size * config.context * (config.max_steps - WARMUP) / (time.perf_counter() - start)


class _Clock(L.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == WARMUP:
            self.start = time.perf_counter()
        elif trainer.global_step == trainer.max_steps:
            self.seconds = time.perf_counter() - self.start


def lightning_run(config: PretrainConfig) -> float:
    """Tokens/s of the same run through mosslite's Lightning module, callbacks and all."""
    clock = _Clock()
    with tempfile.TemporaryDirectory() as out:
        pretrain(config_from_dict({**config.to_dict(), "out_dir": out}), callbacks=[clock], quiet=True)
    return config.batch_size * config.context * (config.max_steps - WARMUP) / clock.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "small"])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--context", type=int, default=256)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data_dir, _ = prepare_data()
    peak = measure_cpu_flops()
    print(f"CPU matmul peak: {peak / 1e9:.1f} GFLOP/s with {args.threads} threads (fp32, 1024x1024, best of 3)\n")
    print("| preset | parameters | tokens/step | plain loop tok/s | mosslite Lightning tok/s | overhead | MFU |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for preset in args.presets:
        config = config_from_dict({"model": preset, "data_dir": str(data_dir), "batch_size": args.batch_size,
                                   "block_size": args.context, "max_steps": WARMUP + args.steps, "warmup_steps": 2,
                                   "val_every": 10**6, "ckpt_every": 10**6, "peak_flops": peak,
                                   "progress_bar": False})
        best = {"plain": 0.0, "lightning": 0.0}
        for _ in range(args.repeats):
            best["plain"] = max(best["plain"], plain_loop(config))
            best["lightning"] = max(best["lightning"], lightning_run(config))
        model_config = config.model_config(vocab_size=int(PackedTokens(f"{data_dir}/train.bin").meta["vocab_size"]))
        params = build_model(model_config, device="meta").num_parameters()
        mfu = best["lightning"] * training_flops_per_token(model_config, config.context) / peak
        overhead = 1 - best["lightning"] / best["plain"]
        print(f"| {preset} | {params / 1e6:.1f}M | {args.batch_size * args.context:,} | {best['plain']:,.0f} | "
              f"{best['lightning']:,.0f} | {100 * overhead:+.1f}% | {100 * mfu:.1f}% |")


if __name__ == "__main__":
    main()
