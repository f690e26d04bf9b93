"""Generation speed: mosslite's KV-cache decoding vs `transformers` `generate` on the same CodeGen weights.

The `small` preset (random weights) is exported with `mosslite.interop.export_hf` and loaded back as a
`CodeGenForCausalLM`, so both sides run identical fp32 weights; all decode greedily and the tokens are compared.
Variants: plain mosslite; mosslite with prepacked linear layers (`mosslite.prepack`, oneDNN instead of MKL); and, as
a control, HF with the same prepacking, which shows how much of a ratio comes from the kernel swap alone.

Made for a noisy shared machine: each round runs every variant once, in an order that rotates from round to round,
and each ratio is taken within a round (a neighbour's burst slows both sides of it); the table gives the median
over rounds and the min-max spread, with the thread count and the load average before and after.
Run: `.venv/bin/python benchmarks/generate.py [--threads 1 2] [--batch-sizes 1 8] [--rounds 5] [--profile]`.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import torch
from torch.profiler import ProfilerActivity, profile
from transformers import AutoModelForCausalLM
from transformers.utils import logging

from mosslite.config import get_config
from mosslite.generate import generate
from mosslite.interop import export_hf
from mosslite.model import build_model
from mosslite.prepack import prepack_available, prepack_linears

REFERENCE = "HF"


def load() -> str:
    return "load avg " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} CPUs"


def hf_generate(hf, prompt: list[int], batch: int, n: int) -> list[list[int]]:
    ids = torch.tensor([prompt] * batch)
    with torch.inference_mode():
        out = hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=n,
                          do_sample=False, eos_token_id=None, pad_token_id=0)
    return out[:, len(prompt) :].tolist()


def timed_rounds(fns: dict[str, Callable[[], list[list[int]]]], rounds: int) -> dict[str, tuple[list[float], list]]:
    """Seconds of every call of every function over `rounds` rounds (after one warm-up each), and its last output.
    Round r starts at function r (mod n), so no variant always runs right after the same neighbour."""
    names = list(fns)
    outputs = {name: fns[name]() for name in names}
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.perf_counter()
            outputs[name] = fns[name]()
            times[name].append(time.perf_counter() - start)
    return {name: (times[name], outputs[name]) for name in names}


def report(batch: int, n: int, results: dict[str, tuple[list[float], list]]) -> None:
    ref_times, ref_out = results[REFERENCE]
    for name, (times, out) in results.items():
        rate = batch * n / statistics.median(times)
        ratios = [t_ref / t for t_ref, t in zip(ref_times, times)]  # paired: the same round
        spread = f"{statistics.median(ratios):.2f}x [{min(ratios):.2f}-{max(ratios):.2f}]"
        print(f"{batch:>5} | {name:<17} | {rate:>8.1f} | {spread:>18} | {'yes' if out == ref_out else 'NO'}")


def profile_decoding(fns: dict[str, Callable[[], object]], tokens: int, rows: int = 8) -> None:
    """Where each generator spends its CPU time: the ops with the most self time, per generated token."""
    for name, fn in fns.items():
        fn()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            fn()
        events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
        total = sum(e.self_cpu_time_total for e in events) / tokens
        print(f"\n{name}: {total / 1e3:.2f} ms of op self-time per token (prompt included)")
        for e in events[:rows]:
            print(f"  {e.key[:50]:<50} {e.count / tokens:>6.1f} calls {e.self_cpu_time_total / tokens / 1e3:>7.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--prompt-tokens", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-prepack", action="store_true", help="only plain mosslite vs plain HF")
    parser.add_argument("--profile", action="store_true", help="print each side's top ops per token (batch 1)")
    args = parser.parse_args()
    logging.set_verbosity_error()
    sys.stdout.reconfigure(line_buffering=True)  # rows appear as they are measured, even through a pipe

    torch.manual_seed(0)
    ours = build_model(get_config(args.preset)).eval()
    with tempfile.TemporaryDirectory() as tmp:
        export_hf(ours, tmp)
        hf = AutoModelForCausalLM.from_pretrained(tmp, dtype=torch.float32).eval()
    prompt = torch.randint(0, ours.config.vocab_size, (args.prompt_tokens,)).tolist()
    n = args.new_tokens
    models = {"mosslite": ours, REFERENCE: hf}
    if not args.no_prepack and prepack_available():
        models["mosslite+prepack"], models["HF+prepack"] = copy.deepcopy(ours), copy.deepcopy(hf)
        prepack_linears(models["mosslite+prepack"])
        prepack_linears(models["HF+prepack"])

    def runner(name: str, batch: int, tokens: int) -> Callable[[], list[list[int]]]:
        model = models[name]
        if name.startswith("HF"):
            return lambda: hf_generate(model, prompt, batch, tokens)
        return lambda: generate(model, [prompt] * batch, tokens)

    print(f"{args.preset} preset, {ours.num_parameters() / 1e6:.1f}M parameters, fp32, CPU, prompt {len(prompt)} "
          f"tokens, {n} new tokens, greedy, median of {args.rounds} rounds")
    print(f"torch {torch.__version__}, transformers {__import__('transformers').__version__}")
    for threads in args.threads:
        torch.set_num_threads(threads)
        print(f"\n{torch.get_num_threads()} thread(s); before: {load()}")
        print(f"{'batch':>5} | {'variant':<17} | {'tok/s':>8} | {'vs HF [min-max]':>18} | same tokens as HF")
        for batch in args.batch_sizes:
            report(batch, n, timed_rounds({name: runner(name, batch, n) for name in models}, args.rounds))
        print(f"after: {load()}")
        if args.profile:
            profile_decoding({name: runner(name, 1, 64) for name in models}, tokens=64)


if __name__ == "__main__":
    main()
