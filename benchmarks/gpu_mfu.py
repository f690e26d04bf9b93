"""Training throughput and MFU of a mosslite model on one device (made for CUDA: bf16, torch.compile, SDPA flash).

    python benchmarks/gpu_mfu.py --preset moss-500m --seq-len 2048 --batch 8 --peak-tflops 989.5   # H100 SXM bf16
    python benchmarks/gpu_mfu.py --preset toy --device cpu --steps 3 --no-compile                  # a smoke check

MFU = achieved model FLOPs / peak, with model FLOPs from `mosslite.scaling.training_flops_per_token` (6N plus the
attention term; activation recomputation is not counted, as MFU's definition says). The reference for the ratio is
the device's peak, given explicitly because marketing peaks differ by SKU (H100 SXM bf16 dense: 989.5 TFLOP/s).
"""

from __future__ import annotations

import argparse
import time

import torch

from mosslite.config import PRESETS, get_config
from mosslite.model import build_model, lm_loss
from mosslite.scaling import training_flops_per_token
from mosslite.train.module import param_groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="moss-500m", choices=list(PRESETS))
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--peak-tflops", type=float, default=989.5)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--checkpointing", action="store_true", help="recompute each block in backward")
    args = parser.parse_args()
    device = torch.device(args.device)  # "cuda", "cuda:1" or "cpu"; autocast and the fused optimizer want its type
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here: run on a GPU machine, or pass --device cpu for a smoke check")
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)  # compile and the memory counters then follow the chosen GPU

    config = get_config(args.preset)
    seq_len = min(args.seq_len, config.block_size)
    torch.manual_seed(0)
    model = build_model(config, device=device)
    if args.checkpointing:
        from torch.distributed._composable import checkpoint

        for block in model.blocks:
            checkpoint(block)
    if not args.no_compile:
        for block in model.blocks:
            block.compile()
    optimizer = torch.optim.AdamW(param_groups(model, 0.1), lr=1e-4, fused=device.type == "cuda" or None)
    dtype = torch.bfloat16
    x = torch.randint(0, config.vocab_size, (args.batch, seq_len + 1), device=device)

    def step() -> float:
        with torch.autocast(device.type, dtype=dtype):
            loss = lm_loss(model(x[:, :-1]), x[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.item()  # .item() synchronises, so the timing below is honest

    for _ in range(args.warmup):
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    elapsed = time.perf_counter() - start
    tokens_per_s = args.batch * seq_len * args.steps / elapsed
    flops = training_flops_per_token(config, seq_len) * tokens_per_s
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device {name}; {args.preset} ({model.num_parameters() / 1e6:,.0f}M params), batch {args.batch} × {seq_len}, "
          f"bf16 autocast, compile {'off' if args.no_compile else 'on'}, checkpointing {'on' if args.checkpointing else 'off'}")
    print(f"{tokens_per_s:,.0f} tokens/s, {flops / 1e12:,.1f} TFLOP/s achieved, "
          f"MFU {100 * flops / (args.peak_tflops * 1e12):.1f}% of {args.peak_tflops:g} TFLOP/s")
    if device.type == "cuda":
        print(f"peak memory {torch.cuda.max_memory_allocated() / 1e9:.1f} GB")


if __name__ == "__main__":
    main()
