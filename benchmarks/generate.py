"""Generation speed: mosslite's KV-cache decoding vs `transformers` `generate` on the same CodeGen weights.

The `small` preset (random weights) is exported with `mosslite.interop.export_hf` and loaded back as a
`CodeGenForCausalLM`, so both sides run identical weights; both decode greedily, and the outputs are checked equal.
Run: `.venv/bin/python benchmarks/generate.py [--threads 2] [--new-tokens 256] [--repeats 3]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from transformers import AutoModelForCausalLM
from transformers.utils import logging

from mosslite.config import get_config
from mosslite.generate import generate
from mosslite.interop import export_hf
from mosslite.model import build_model


def best_times(fns: dict, repeats: int) -> dict[str, tuple[float, list[list[int]]]]:
    """Each function's fastest of `repeats` calls (after one warm-up) and its output. The calls alternate, so a
    neighbour's load on a shared machine slows both sides alike instead of whichever happened to run then."""
    for fn in fns.values():
        fn()
    best = {name: (float("inf"), []) for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            out = fn()
            best[name] = min(best[name], (time.perf_counter() - start, out), key=lambda t: t[0])
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt-tokens", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.set_verbosity_error()

    torch.manual_seed(0)
    ours = build_model(get_config(args.preset)).eval()
    with tempfile.TemporaryDirectory() as tmp:
        export_hf(ours, tmp)
        hf = AutoModelForCausalLM.from_pretrained(tmp, dtype=torch.float32).eval()
    prompt = torch.randint(0, ours.config.vocab_size, (args.prompt_tokens,)).tolist()
    n = args.new_tokens

    def run_hf(batch: int) -> list[list[int]]:
        ids = torch.tensor([prompt] * batch)
        with torch.inference_mode():
            out = hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=n,
                              do_sample=False, eos_token_id=None, pad_token_id=0)
        return out[:, len(prompt) :].tolist()

    print(f"{args.preset} preset, {ours.num_parameters() / 1e6:.1f}M parameters, CPU, {args.threads} threads, "
          f"prompt {len(prompt)} tokens, {n} new tokens, greedy, best of {args.repeats}")
    print(f"torch {torch.__version__}, transformers {__import__('transformers').__version__}")
    print(f"{'batch':>5} | {'mosslite tok/s':>14} | {'transformers tok/s':>18} | {'mosslite/HF':>11} | same tokens")
    for batch in args.batch_sizes:
        best = best_times({"ours": lambda b=batch: generate(ours, [prompt] * b, n),
                           "hf": lambda b=batch: run_hf(b)}, args.repeats)
        (t_ours, out_ours), (t_hf, out_hf) = best["ours"], best["hf"]
        rate_ours, rate_hf = batch * n / t_ours, batch * n / t_hf
        print(f"{batch:>5} | {rate_ours:>14.1f} | {rate_hf:>18.1f} | {rate_ours / rate_hf:>10.2f}x | "
              f"{'yes' if out_ours == out_hf else 'NO'}")


if __name__ == "__main__":
    main()
