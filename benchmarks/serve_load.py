"""Bounded load test of `mosslite serve`: N concurrent streaming clients on loopback for a fixed time.

Reports requests/s, latency and time to first answer token (p50/p95), answer tokens/s, the mean batch the engine
decoded, and every error by kind. Targets: zero 5xx and no lost requests (every request sent gets an answer or a 429).

The server is the real command (`python -m mosslite.cli serve`, the `small` preset on CPU) in a child process. Its model
is first taught the MOSS turn format for `--train-steps` steps on the bilingual world's dialogues, so that it closes its
inner-thoughts and commands fields the way a chat model does (an untrained model writes every field to max_tokens).
Run: `.venv/bin/python benchmarks/serve_load.py [--clients 8] [--seconds 60] [--max-batch 8]`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import torch

from mosslite.chat import IGNORE_INDEX, Conversation, MetaInstruction, Turn, encode_for_training
from mosslite.checkpoint import save_checkpoint
from mosslite.config import get_config
from mosslite.data.world import World
from mosslite.model import build_model, lm_loss
from mosslite.tokenizer import train_tokenizer

MODEL_ID = "small-chat"


@dataclass
class Result:
    status: str  # "ok", "429", "5xx", "4xx" or the exception's class name
    latency: float
    ttft: float | None = None  # seconds to the first answer token
    tokens: int = 0  # answer tokens (usage.completion_tokens)
    generated: int = 0  # tokens of every field the model wrote (inner thoughts, commands, answer)
    finish: str | None = None  # "stop" (the answer ended with <eom>) or "length" (cut at max_tokens)


def prepare(folder: Path, preset: str, steps: int, threads: int) -> list[str]:
    """Train a tokenizer and teach a `preset` model the chat format; save both in `folder`; return test questions."""
    world = World()
    dialogues = world.dialogues(400, languages=("en", "zh"))
    meta = MetaInstruction()  # what `mosslite serve` puts in front of every conversation
    conversations = [Conversation(turns=[Turn(human=t.human, moss=t.moss) for t in d.turns], meta=meta)
                     for d in dialogues]
    texts = [d.text for d in world.documents()] + [c.render() for c in conversations]
    config = get_config(preset)
    tokenizer = train_tokenizer(texts, vocab_size=config.vocab_size)
    tokenizer.save(folder / "tokenizer")
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    model = build_model(config.with_(vocab_size=tokenizer.vocab_size))
    examples = [encode_for_training(c, tokenizer, max_tokens=config.block_size) for c in conversations[:-40]]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for step in range(steps):
        batch = [examples[(step * 8 + i) % len(examples)] for i in range(8)]
        T = max(len(ids) for ids, _ in batch) - 1  # right padding: a causal model never looks ahead at it
        pad = tokenizer.special_tokens["<|endoftext|>"]
        x = torch.tensor([ids[:-1] + [pad] * (T - len(ids) + 1) for ids, _ in batch])
        y = torch.tensor([labels[1:] + [IGNORE_INDEX] * (T - len(labels) + 1) for _, labels in batch])
        loss = lm_loss(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 20 == 0 or step == steps - 1:
            print(f"  teaching the chat format: step {step:>3}  loss {loss.item():.3f}", flush=True)
    save_checkpoint(model.eval(), folder / "checkpoint")
    return [c.turns[0].human for c in conversations[-40:]]  # questions the model was not taught


def client_loop(base_url: str, questions: list[str], until: float, max_tokens: int, results: list[Result],
                index: int) -> None:
    """One user: ask, read the streamed answer to the end, ask again, until the time is up."""
    client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=120)
    i = index
    while time.monotonic() < until:
        question = questions[i % len(questions)]
        i += 7
        start = time.monotonic()
        result = Result("ok", 0.0)
        try:
            chunks = client.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": question}],
                                                    stream=True, max_tokens=max_tokens,
                                                    stream_options={"include_usage": True})
            for chunk in chunks:
                if chunk.choices and chunk.choices[0].delta.content and result.ttft is None:
                    result.ttft = time.monotonic() - start
                if chunk.choices and chunk.choices[0].finish_reason:
                    result.finish = chunk.choices[0].finish_reason
                    result.generated = chunk.model_extra["mosslite"]["generated_tokens"]
                if chunk.usage:
                    result.tokens = chunk.usage.completion_tokens
        except openai.RateLimitError:
            result.status = "429"
            time.sleep(0.2)  # what a polite client does with Retry-After
        except openai.APIStatusError as err:
            result.status = "5xx" if err.status_code >= 500 else "4xx"
        except Exception as err:  # a dropped connection or a timeout would be a lost request
            result.status = type(err).__name__
        result.latency = time.monotonic() - start
        results.append(result)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--max-queue", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=48, help="per-field budget of each request")
    parser.add_argument("--train-steps", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the server")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        questions = prepare(folder, args.preset, args.train_steps, args.threads)
        print(f"prepared the model and tokenizer in {time.perf_counter() - start:.0f} s")
        port = 8000 + int(time.time()) % 1000
        server = subprocess.Popen(
            [sys.executable, "-m", "mosslite.cli", "serve", "--checkpoint", str(folder / "checkpoint"),
             "--tokenizer", str(folder / "tokenizer"), "--host", "127.0.0.1", "--port", str(port), "--model-id", MODEL_ID,
             "--max-batch", str(args.max_batch), "--max-queue", str(args.max_queue), "--threads", str(args.threads),
             "--log-level", "warning"])
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):  # bounded wait for the server to come up
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            else:
                raise RuntimeError("the server did not start within 60 s")
            results: list[Result] = []
            until = time.monotonic() + args.seconds
            began = time.monotonic()
            threads = [threading.Thread(target=client_loop, args=(f"{base}/v1", questions, until, args.max_tokens,
                                                                  results, i)) for i in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=args.seconds + 300)
            elapsed = time.monotonic() - began
            health = httpx.get(f"{base}/health", timeout=5).json()
        finally:
            server.terminate()
            server.wait(timeout=30)

    ok = [r for r in results if r.status == "ok"]
    kinds = {s: sum(r.status == s for r in results) for s in sorted({r.status for r in results})}
    lost = sum(r.status not in ("ok", "429", "4xx", "5xx") for r in results) + sum(t.is_alive() for t in threads)
    latencies, ttfts = [r.latency for r in ok], [r.ttft for r in ok if r.ttft is not None]
    print(f"\n{args.preset} preset on CPU ({args.threads} torch threads), {args.clients} streaming clients for "
          f"{args.seconds:.0f} s, max batch {args.max_batch}, max queue {args.max_queue}, max_tokens {args.max_tokens}")
    print(f"requests: {len(results)} sent, by outcome {kinds}; lost {lost}; 5xx {kinds.get('5xx', 0)}")
    if ok:
        finishes = {f: sum(r.finish == f for r in ok) for f in ("stop", "length")}
        print(f"throughput: {len(ok) / elapsed:.2f} answered requests/s, {sum(r.tokens for r in ok) / elapsed:.1f} "
              f"answer tokens/s, {sum(r.generated for r in ok) / elapsed:.1f} tokens/s of all fields; engine mean "
              f"batch {health['mean_batch']}; prompt tokens reused, not prefilled: {health['reused_prompt_tokens']:,}; "
              f"answers ended by <eom> {finishes['stop']}, cut at max_tokens {finishes['length']}")
        print(f"latency: p50 {percentile(latencies, 50):.2f} s, p95 {percentile(latencies, 95):.2f} s")
        if ttfts:
            print(f"time to first answer token: p50 {percentile(ttfts, 50):.2f} s, p95 {percentile(ttfts, 95):.2f} s "
                  f"({len(ttfts)} of {len(ok)} answers had any text)")


if __name__ == "__main__":
    main()
