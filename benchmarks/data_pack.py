"""Packing throughput: MB/s of UTF-8 text into train.bin/val.bin, against the bare tokenizer encode loop.

The ratio pack / encode is the packer's own overhead (splitting, arrays, hashing, writing); with `--workers` it
shows what parallel tokenisation buys on this machine. Uses the project's tokenizer when `mosslite.tokenizer`
exists (trained here on a slice of the corpus), else mosslite's ByteTokenizer (reported as such).
Run: `.venv/bin/python benchmarks/data_pack.py [--corpus world:docs_per_fact=200] [--workers 2] [--vocab 4000]
[--tokenizer bpe|bytes]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from mosslite.data.corpora import documents
from mosslite.data.pack import ByteTokenizer, pack


def tokenizer_for(texts: list[str], vocab: int, kind: str):
    if kind == "bytes":
        return ByteTokenizer(), "ByteTokenizer (UTF-8 bytes)"
    try:
        from mosslite.tokenizer import train_tokenizer
    except ImportError:
        return ByteTokenizer(), "ByteTokenizer (UTF-8 bytes; mosslite.tokenizer not found)"
    return train_tokenizer(texts[:2000], vocab_size=vocab), f"mosslite fast BPE, vocab {vocab}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="world:docs_per_fact=200")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=4000)
    parser.add_argument("--tokenizer", choices=["bpe", "bytes"], default="bpe")
    args = parser.parse_args()

    texts = list(documents(args.corpus))
    megabytes = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    tokenizer, name = tokenizer_for(texts, args.vocab, args.tokenizer)
    print(f"corpus {args.corpus}: {len(texts):,} documents, {megabytes:.1f} MB; tokenizer: {name}")

    start = time.perf_counter()
    n = sum(len(tokenizer.encode(t)) for t in texts)
    encode = time.perf_counter() - start
    print(f"reference encode loop: {n:,} tokens in {encode:.2f} s = {megabytes / encode:.2f} MB/s")
    for workers in sorted({0, args.workers}):
        with tempfile.TemporaryDirectory() as out:
            meta = pack(texts, tokenizer, out, workers=workers, progress=False)
        seconds = meta["seconds"]
        print(f"pack, workers={workers}: {meta['tokens']:,} tokens in {seconds:.2f} s = {megabytes / seconds:.2f} MB/s "
              f"({meta['dtype']}); pack / encode time = {seconds / encode:.2f}x")


if __name__ == "__main__":
    main()
