"""`mosslite tokenizer train | extend | import | show`: train a BPE on corpora, extend one as MOSS did, bring in
MOSS's own tokenizer files, see how text splits."""

from __future__ import annotations

import argparse

from mosslite.tokenizer import load_tokenizer, train_tokenizer


def _texts(corpus: list[str]) -> list[str]:
    from mosslite.data.corpora import documents

    texts = [doc for spec in corpus for doc in documents(spec)]
    if not texts:
        raise ValueError(f"--corpus {' '.join(corpus)} yielded no text")
    return texts


def train(args: argparse.Namespace) -> int:
    texts = _texts(args.corpus)
    tokenizer = train_tokenizer(texts, args.vocab_size, backend=args.backend)
    path = tokenizer.save(args.out)
    print(f"trained a {tokenizer.vocab_size:,}-token {args.backend} BPE on {len(texts):,} documents -> {path}")
    return 0


def extend(args: argparse.Namespace) -> int:
    from mosslite.tokenizer.extend import chars_per_token, extend_vocabulary

    texts = _texts(args.corpus)
    base = load_tokenizer(args.tokenizer)
    extended = extend_vocabulary(base, texts, args.added)
    path = extended.save(args.out)
    print(f"{base.vocab_size:,} -> {extended.vocab_size:,} tokens -> {path}\n"
          f"characters per token on the corpus: {chars_per_token(base, texts):.2f} -> "
          f"{chars_per_token(extended, texts):.2f}")
    return 0


def import_files(args: argparse.Namespace) -> int:
    from mosslite.tokenizer.moss import load_moss_tokenizer

    tokenizer = load_moss_tokenizer(args.source)
    path = tokenizer.save(args.out)
    print(f"{tokenizer.vocab_size:,} ids ({len(tokenizer.special_tokens)} special: "
          f"{' '.join(tokenizer.special_tokens)}) from {args.source} -> {path}")
    return 0


def show(args: argparse.Namespace) -> int:
    if args.tokenizer:
        tokenizer = load_tokenizer(args.tokenizer)
    else:
        from mosslite.tokenizer.gpt2 import load_gpt2

        tokenizer = load_gpt2()
    ids = tokenizer.encode(args.text, allowed_special="all" if args.allow_special else "none")
    print(f"{len(args.text)} characters -> {len(ids)} tokens")
    for i in ids:
        print(f"{i:>7}  {tokenizer.token_bytes(i)!r}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("tokenizer", help="train, extend or inspect a byte-level BPE tokenizer")
    sub = parser.add_subparsers(dest="tokenizer_command", required=True, metavar="ACTION")
    corpus_help = "registered corpora (shakespeare, peoples_daily, …), world[:knobs], or files/folders/globs"
    p = sub.add_parser("train", help="train a byte-level BPE on corpora")
    p.add_argument("--corpus", nargs="+", required=True, help=corpus_help)
    p.add_argument("--vocab-size", type=int, required=True)
    p.add_argument("--out", required=True, help="folder for tokenizer.json")
    p.add_argument("--backend", choices=["fast", "scratch"], default="fast")
    p.set_defaults(func=train)
    p = sub.add_parser("extend", help="append merges learned on new text (e.g. Chinese) to a tokenizer")
    p.add_argument("--tokenizer", required=True, help="folder or tokenizer.json to extend")
    p.add_argument("--corpus", nargs="+", required=True, help=corpus_help)
    p.add_argument("--added", type=int, required=True, help="how many tokens to add")
    p.add_argument("--out", required=True, help="folder for the extended tokenizer.json")
    p.set_defaults(func=extend)
    p = sub.add_parser("import", help="MOSS's tokenizer files (vocab.json, merges.txt, added_tokens.json) as a "
                       "tokenizer.json with MOSS's ids")
    p.add_argument("source", help="the Hugging Face folder holding vocab.json and merges.txt")
    p.add_argument("--out", required=True, help="folder for tokenizer.json")
    p.set_defaults(func=import_files)
    p = sub.add_parser("show", help="print the tokens of a text")
    p.add_argument("text")
    p.add_argument("--tokenizer", help="folder or tokenizer.json (default: GPT-2's vocabulary)")
    p.add_argument("--allow-special", action="store_true", help="let <eom> and friends be special tokens")
    p.set_defaults(func=show)
