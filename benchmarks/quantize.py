"""Quantization report for the `small` preset: memory, decoding tokens/s and validation perplexity at fp32, bf16, int8
and int4 (groups of 128), on the same text and prompt, as ratios against fp32 measured in the same run.

A random model's perplexity is flat everywhere, so the `small` model is first trained briefly on the built-in bilingual
world (a BPE tokenizer trained on the same text); validation is the world's documents held out of training. Decoding is
greedy with the KV cache, batch 1, best of `--repeats` after a warm-up.
Run: `.venv/bin/python benchmarks/quantize.py [--steps 100] [--threads 2]`.
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from mosslite.config import get_config
from mosslite.data.world import World, WorldConfig
from mosslite.deploy import compare_precisions, format_precisions
from mosslite.model import build_model, lm_loss
from mosslite.tokenizer import train_tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--entities", type=int, default=600, help="size of the world (more entities, more text)")
    parser.add_argument("--steps", type=int, default=100, help="training steps before measuring")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--val-tokens", type=int, default=16_384)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    start = time.perf_counter()
    docs = [d.text for d in World(WorldConfig(n_entities=args.entities)).documents()]
    config = get_config(args.preset)
    tokenizer = train_tokenizer(docs, vocab_size=config.vocab_size)
    eot = tokenizer.special_tokens["<|endoftext|>"]
    ids = torch.tensor([t for doc in docs for t in tokenizer.encode(doc) + [eot]])
    # The last documents are held out for validation; the world interleaves its entities, so both halves look alike.
    val, train = ids[-args.val_tokens :], ids[: -args.val_tokens]
    print(f"world: {len(docs):,} documents, {len(ids):,} tokens (vocab {tokenizer.vocab_size:,}); "
          f"train {len(train):,}, validation {len(val):,} [{time.perf_counter() - start:.0f} s]")

    model = build_model(config.with_(vocab_size=tokenizer.vocab_size))
    print(f"{config.name} preset: {model.num_parameters() / 1e6:.1f}M parameters; training {args.steps} steps of "
          f"{args.batch} × {args.seq_len} tokens on CPU ({args.threads} threads)")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    for step in range(args.steps):
        lr = 1e-3 * min(1.0, (step + 1) / 20) * 0.5 * (1 + math.cos(math.pi * step / args.steps))  # warmup + cosine
        for group in opt.param_groups:
            group["lr"] = lr
        starts = torch.randint(0, len(train) - args.seq_len - 1, (args.batch,))
        x = torch.stack([train[s : s + args.seq_len] for s in starts])
        y = torch.stack([train[s + 1 : s + args.seq_len + 1] for s in starts])
        loss = lm_loss(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 20 == 0 or step == args.steps - 1:
            print(f"  step {step:>4}  loss {loss.item():.3f}  [{time.perf_counter() - start:.0f} s]", flush=True)
    model.eval()

    rows = compare_precisions(model, val, prompt=val[:32].tolist(), new_tokens=args.new_tokens, seq_len=args.seq_len,
                              repeats=args.repeats)
    print(f"\nvalidation perplexity over {len(val):,} tokens in windows of {args.seq_len}; decoding {args.new_tokens} "
          f"tokens after a 32-token prompt, batch 1; torch {torch.__version__}\n")
    print(format_precisions(rows))
    print(f"\n[{time.perf_counter() - start:.0f} s in all]")


if __name__ == "__main__":
    main()
