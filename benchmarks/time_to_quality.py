"""Time to quality on a CPU: mosslite's default CPU recipe vs nanoGPT's CPU recipe, on the same packed tokens.

nanoGPT's README trains on a CPU with `--device=cpu --compile=False --block_size=64 --batch_size=12 --n_layer=4
--n_head=4 --n_embd=128 --max_iters=2000 --lr_decay_iters=2000 --dropout=0.0`, on top of train_shakespeare_char's
lr 1e-3 (min 1e-4, warmup 100, beta2 0.99), weight decay 0.1 on every matrix, clipping at 1.0 and a GPT-2 model
without biases. That recipe runs here as the plain PyTorch loop nanoGPT's train.py is. mosslite's recipe is
configs/pretrain/tiny.yaml run through `mosslite.train.pretrain`, everything included (Lightning start-up, its
periodic validation, samples and checkpoints). Both models are then scored on the same validation windows of 64
tokens (nanoGPT's context). Target: mosslite reaches an equal or lower loss in equal or less time.

Run: `.venv/bin/python benchmarks/time_to_quality.py [--data DIR --tokenizer DIR] [--threads 2]`
(without --data the chapter-4 corpus is built, or reused from the cache).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time

import torch

from mosslite.config import ModelConfig
from mosslite.data.pack import PackedTokens
from mosslite.model import Transformer, build_model, lm_loss
from mosslite.train import load_config, pretrain
from mosslite.train.data import prepare_data

NANOGPT = dict(block_size=64, batch_size=12, n_layer=4, n_head=4, n_embd=128, max_iters=2000, lr=1e-3, min_lr=1e-4,
               warmup_iters=100, beta2=0.99, weight_decay=0.1, grad_clip=1.0)


@torch.no_grad()
def evaluate(model: Transformer, val: PackedTokens, block_size: int = 64, batch_size: int = 32) -> float:
    """Mean next-token loss over every non-overlapping window of `block_size` tokens in val.bin."""
    model.eval()
    total, count = 0.0, 0
    for x, y in val.iter_batches(batch_size, block_size):
        total += lm_loss(model(x), y).item() * y.numel()
        count += y.numel()
    return total / count


def nanogpt_lr(it: int) -> float:
    """nanoGPT's get_lr: warmup over warmup_iters + 1, cosine from lr to min_lr at lr_decay_iters = max_iters."""
    n = NANOGPT
    if it < n["warmup_iters"]:
        return n["lr"] * (it + 1) / (n["warmup_iters"] + 1)
    ratio = (it - n["warmup_iters"]) / (n["max_iters"] - n["warmup_iters"])
    return n["min_lr"] + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (n["lr"] - n["min_lr"])


def run_nanogpt(train: PackedTokens, vocab_size: int, seed: int = 1337) -> tuple[Transformer, float]:
    """nanoGPT's CPU recipe as its train.py runs it (minus the periodic evaluation); returns (model, seconds)."""
    n = NANOGPT
    torch.manual_seed(seed)
    config = ModelConfig(name="nanogpt-cpu", vocab_size=vocab_size, block_size=n["block_size"], n_layer=n["n_layer"],
                         n_head=n["n_head"], n_embd=n["n_embd"], position="learned", parallel_residual=False,
                         attn_bias=False, attn_out_bias=False, mlp_bias=False, tie_embeddings=True,
                         lm_head_bias=False)  # nanoGPT's GPT with bias=False (its LayerNorms drop the bias too)
    model = build_model(config)
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": n["weight_decay"]},  # embeddings too
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=n["lr"], betas=(0.9, n["beta2"]))  # nanoGPT fuses only on CUDA
    generator = torch.Generator().manual_seed(seed)
    model.train()
    start = time.perf_counter()
    for it in range(n["max_iters"]):
        for group in optimizer.param_groups:
            group["lr"] = nanogpt_lr(it)
        x, y = train.batch(n["batch_size"], n["block_size"], generator)
        loss = lm_loss(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), n["grad_clip"])
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if it % 100 == 0:
            loss.item()  # nanoGPT reads the loss at every log_interval
    return model, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/pretrain/tiny.yaml", help="mosslite's recipe")
    parser.add_argument("--data", default=None, help="a packed corpus (default: build the chapter-4 corpus)")
    parser.add_argument("--tokenizer", default=None, help="the tokenizer it was packed with")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.data is None:
        data_dir, tokenizer_dir = prepare_data()
    else:
        data_dir, tokenizer_dir = args.data, args.tokenizer
    train, val = PackedTokens(f"{data_dir}/train.bin"), PackedTokens(f"{data_dir}/val.bin")
    vocab = int(train.meta["vocab_size"])
    print(f"data: {data_dir} ({len(train):,} train / {len(val):,} val tokens, vocabulary {vocab:,})")

    nano, nano_s = run_nanogpt(train, vocab)
    nano_loss = evaluate(nano, val)
    with tempfile.TemporaryDirectory() as out:
        config = load_config(args.config, {"data_dir": str(data_dir), "tokenizer_dir": str(tokenizer_dir) if tokenizer_dir else None,
                                           "out_dir": out, "progress_bar": False})
        result = pretrain(config, quiet=True)
    ours_loss = evaluate(result.module.model, val)
    ours_own = result.history.val[-1][1]

    n = NANOGPT
    rows = [("nanoGPT CPU recipe (plain loop)", n["max_iters"], n["batch_size"] * n["block_size"], nano_s, nano_loss),
            (f"mosslite {config.name} ({config.model})", config.max_steps,
             config.batch_size * config.context * config.grad_accum, result.wall_time, ours_loss)]
    print("\n| recipe | steps | tokens/step | wall time (s) | val loss @ 64 tokens |\n|---|---:|---:|---:|---:|")
    for name, steps, tokens, seconds, loss in rows:
        print(f"| {name} | {steps:,} | {tokens:,} | {seconds:.1f} | {loss:.4f} |")
    print(f"\nmosslite / nanoGPT: time {result.wall_time / nano_s:.2f}x, val loss {ours_loss - nano_loss:+.4f} "
          f"(mosslite's own val loss at its context of {config.context}: {ours_own:.4f}; uniform guess "
          f"ln {vocab} = {math.log(vocab):.3f})")
    met = ours_loss <= nano_loss and result.wall_time <= nano_s
    print("target (equal or lower loss in equal or less time):", "met" if met else "NOT met")


if __name__ == "__main__":
    main()
