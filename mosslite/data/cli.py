"""`mosslite data …`: generate the bilingual world, list, clean and download corpora, and pack text into tokens.

    mosslite data world --out data/world --zh-share 0.001 --seed 1
    mosslite data sources
    mosslite data clean --corpus page.txt --out clean.jsonl
    mosslite data pack --corpus shakespeare=0.999 --corpus peoples_daily=0.001 --tokenizer tok/ --out data/mix
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import itertools
import json
import re
import time
import typing
from collections import Counter
from pathlib import Path

from mosslite.data import corpora
from mosslite.data.world import World, WorldConfig, save_world
from mosslite.fileio import atomic_write


def _add_world_knobs(parser: argparse.ArgumentParser) -> None:
    """One option per WorldConfig field, its help taken from the field's comment, so the command line can never
    fall behind the dataclass."""
    comments = dict(re.findall(r"^    (\w+): .*?#\s*(.+)$", inspect.getsource(WorldConfig), re.M))
    for f in dataclasses.fields(WorldConfig):
        flag, text = "--" + f.name.replace("_", "-"), comments.get(f.name, "")
        if isinstance(f.default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help=text)
        elif isinstance(f.default, tuple) or f.default is None:
            shown = ",".join(map(str, f.default)) if f.default else "all"
            parser.add_argument(flag, default=None, metavar="A,B", help=f"{text} (comma-separated; default {shown})")
        else:
            parser.add_argument(flag, type=type(f.default), default=f.default, metavar=type(f.default).__name__.upper(),
                                help=f"{text} (default {f.default})")


def _world_config(args: argparse.Namespace) -> WorldConfig:
    values = {}
    for f in dataclasses.fields(WorldConfig):
        value = getattr(args, f.name)
        if isinstance(value, str) and (isinstance(f.default, tuple) or f.default is None):
            items = tuple(v.strip() for v in value.split(",") if v.strip())
            value = tuple(int(v) for v in items) if f.name == "facts_per_doc" else items
        values[f.name] = f.default if value is None else value
    return WorldConfig(**values)


def world(args: argparse.Namespace) -> int:
    config = _world_config(args)
    start = time.perf_counter()
    stats = save_world(World(config), args.out, n_dialogues=args.dialogues,
                       dialogue_languages=tuple(args.dialogue_languages.split(",")))
    seconds = time.perf_counter() - start
    summary = World(config).summary()
    print(f"[world] {sum(summary['entities'].values())} entities, {summary['facts']} facts; splits {summary['splits']}")
    print(f"[world] {stats.documents:,} pretraining documents, {stats.units:,} units ({stats.zh_share:.3%} Chinese), "
          f"{stats.chars / 1e6:.1f} M characters, generated and written in {stats.seconds:.1f} s "
          f"({stats.units / max(stats.seconds, 1e-9) / 1e6:.2f} M units/s)")
    print(f"[world] wrote {args.out}/{{world.json,pretrain.jsonl,sft.jsonl,search.jsonl,eval.jsonl,stats.json}} in "
          f"{seconds:.1f} s (the SFT dialogues run the real tools)")
    return 0


def sources(args: argparse.Namespace) -> int:
    print("| corpus | language | installed | licence | install |\n|---|---|---|---|---|")
    for row in corpora.available():
        print(f"| {row['name']} | {row['language']} | {'yes' if row['installed'] else 'no'} | {row['licence']} | "
              f"`{row['install']}` |")
    print(f"\nalso: world[:knob=value,...] (the built-in world), files, folders, globs, JSONL; downloads: "
          f"{', '.join(corpora.DOWNLOADS)}")
    return 0


def _parse_specs(specs: list[str]) -> dict[str, float | None]:
    """"name=0.99" -> {"name": 0.99}; a spec without a share maps to None (all of it)."""
    out: dict[str, float | None] = {}
    for spec in specs:
        name, sep, share = spec.rpartition("=")
        if sep and name and share.replace(".", "", 1).isdigit():
            out[name] = float(share)
        else:
            out[spec] = None
    shares = set(v is None for v in out.values())
    if len(shares) > 1:
        raise ValueError("give every --corpus a share (name=0.99) or none of them")
    return out


def _corpus(args: argparse.Namespace) -> tuple[typing.Iterable[str], list[dict]]:
    """The documents the --corpus options name (mixed by share when shares are given) and a description of each."""
    specs = _parse_specs(args.corpus)
    read = {name: (lambda name=name: corpora.documents(name, text_field=args.text_field)) for name in specs}
    if None in specs.values():
        return itertools.chain.from_iterable(f() for f in read.values()), [{"source": s} for s in specs]
    mixture = corpora.mix({k: v for k, v in specs.items() if v}, total_units=args.total_units, seed=args.seed,
                          sources=read)
    print(mixture.table())
    return mixture.documents(), [dataclasses.asdict(r) | {"epochs": r.epochs} for r in mixture.rows]


def clean(args: argparse.Namespace) -> int:
    from mosslite.data.clean import Pipeline

    docs, _ = _corpus(args)
    result = Pipeline.default(tuple(args.languages.split(",")), args.min_units).run(docs)
    print(result.table())
    text = "".join(json.dumps({"text": d}, ensure_ascii=False) + "\n" for d in result.documents)
    atomic_write(Path(args.out), lambda tmp: tmp.write_text(text, encoding="utf-8"))
    print(f"[clean] kept {len(result.documents)} of {result.n_in} documents -> {args.out}")
    return 0


def pack_command(args: argparse.Namespace) -> int:
    from mosslite.data.pack import pack

    try:
        from mosslite.tokenizer import load_tokenizer
    except ImportError as err:
        raise ValueError(f"packing needs mosslite.tokenizer, which failed to import ({err})") from None
    tokenizer = load_tokenizer(args.tokenizer)
    docs, described = _corpus(args)
    if args.clean:
        from mosslite.data.clean import Pipeline

        changes: list = []
        pipeline = Pipeline.default()
        docs = (text for _, text in pipeline.stream(docs, changes.append))
    meta = pack(docs, tokenizer, args.out, val_fraction=args.val_fraction, seed=args.seed, sources=described,
                workers=args.workers, separator=args.separator)
    if args.clean:
        removed = Counter((c.step, c.what) for c in changes)
        print("[clean] " + "; ".join(f"{step}: {n} {what}s" for (step, what), n in sorted(removed.items())))
    train, val = meta["splits"]["train"], meta["splits"]["val"]
    print(f"[pack] {meta['tokens']:,} tokens ({meta['dtype']}) from {meta['bytes_in'] / 1e6:.1f} MB in "
          f"{meta['seconds']:.1f} s ({meta['bytes_in'] / 1e6 / max(meta['seconds'], 1e-9):.2f} MB/s): "
          f"train {train['tokens']:,} tokens / {train['documents']:,} documents, "
          f"val {val['tokens']:,} / {val['documents']:,} -> {args.out}")
    return 0


def download(args: argparse.Namespace) -> int:
    path = corpora.download(args.name, cache=args.cache)
    print(f"[download] {args.name}: {path}")
    return 0


def register(subparsers) -> None:
    data = subparsers.add_parser("data", help="the bilingual world, real corpora, cleaning and token packing")
    sub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    p = sub.add_parser("world", help="generate the bilingual world: pretraining text, SFT, search index, eval")
    p.add_argument("--out", required=True, help="folder for the world's files")
    p.add_argument("--dialogues", type=int, default=1000, help="SFT dialogues to write")
    p.add_argument("--dialogue-languages", default="en,zh")
    _add_world_knobs(p)
    p.set_defaults(func=world)

    p = sub.add_parser("sources", help="list the registered corpora, their licences and whether they are installed")
    p.set_defaults(func=sources)

    corpus_help = ("a registered corpus, world[:knob=value,...], a file, folder or glob; add =SHARE to mix by share "
                   "of units (e.g. shakespeare=0.999); repeatable")
    for name, func, text in (("pack", pack_command, "tokenise corpora into train.bin/val.bin/meta.json"),
                             ("clean", clean, "run the cleaning pipeline and print what each step removed")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--corpus", action="append", required=True, help=corpus_help)
        p.add_argument("--out", required=True)
        p.add_argument("--text-field", default="text", help="the JSONL field holding the text")
        p.add_argument("--total-units", type=int, default=None, help="mixture size; small sources are repeated")
        p.add_argument("--seed", type=int, default=0)
        p.set_defaults(func=func)
        if name == "pack":
            p.add_argument("--tokenizer", required=True, help="a folder saved by mosslite.tokenizer")
            p.add_argument("--val-fraction", type=float, default=0.01)
            p.add_argument("--workers", type=int, default=0, help="tokenising processes (0: this one)")
            p.add_argument("--separator", default=None, help="end-of-text token (default: the tokenizer's)")
            p.add_argument("--clean", action="store_true", help="clean the documents on the way in")
        else:
            p.add_argument("--languages", default="en,zh")
            p.add_argument("--min-units", type=int, default=20)

    p = sub.add_parser("download", help="fetch a classic corpus into the cache (needs the network)")
    p.add_argument("name", choices=sorted(corpora.DOWNLOADS))
    p.add_argument("--cache", default=None)
    p.set_defaults(func=download)

    # `export-sft`: the dialogues and feedback `mosslite serve --consent` collected, back into training data.
    from mosslite.flywheel import add_export_command

    add_export_command(sub)
