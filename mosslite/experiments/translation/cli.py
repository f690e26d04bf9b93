"""Emergent translation: Chinese questions about facts seen only in English, after English-only instruction tuning.

    mosslite experiment translation --sweep default            # the results table in results/translation/default
    mosslite experiment translation --point zh=0.01,size=tiny,seed=0   # one cell
    mosslite experiment translation --sweep smoke              # seconds: the whole pipeline at toy size
    mosslite experiment translation --realdata                 # Shakespeare + People's Daily, HSK prompts

Pretrained bases are cached (keyed by a hash of their config) and reused across fine-tuning recipes and reruns.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

REALDATA_SHARES = (0.0, 0.02)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mosslite.experiments.translation.sweep import SWEEPS

    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--sweep", choices=sorted(SWEEPS), help="a named sweep; results go to results/translation/NAME")
    what.add_argument("--point", metavar="KEY=VALUE,...",
                      help="one cell, e.g. zh=0.01,size=tiny,seed=0 (keys: zh, size, design, steps, seed, tune)")
    what.add_argument("--realdata", action="store_true",
                      help="the real-text probe at 0%% and 2%% People's Daily; writes results/translation/realdata.json")
    parser.add_argument("--out", default=None, help="results folder (default results/translation/<sweep or point>)")
    parser.add_argument("--workers", type=int, default=2, help="parallel processes, one torch thread each")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads per process (default 1, or up to 4 with a single worker)")
    parser.add_argument("--cache", default=None, help="where bases are cached (default <mosslite cache>/translation)")
    parser.add_argument("--cached-only", action="store_true",
                        help="only the cells whose base is already pretrained (run.json lists the others)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def main(args: argparse.Namespace) -> int:
    from mosslite.experiments.translation.design import parse_point
    from mosslite.experiments.translation.sweep import RESULTS, flat_row, run_sweep, sweep_cells

    command = "mosslite experiment translation " + " ".join(shlex.quote(a) for a in sys.argv[3:])
    if args.realdata:
        from mosslite.experiments.translation.realdata import realdata_probe

        out = Path(args.out) if args.out else RESULTS / "realdata.json"
        probes = [realdata_probe(zh, root=args.cache, progress=not args.no_progress) for zh in REALDATA_SHARES]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"command": command, "probes": probes}, indent=1, ensure_ascii=False))
        for p in probes:
            print(f"zh={p['zh']:g}: translation choice {100 * p['choice_accuracy']:.0f}% (chance 20%)")
        print(f"results in {out}")
        return 0
    if args.sweep:
        cells, name = sweep_cells(args.sweep), args.sweep
    else:
        cells = [parse_point(args.point)]
        name = "point-" + args.point.replace("=", "").replace(",", "-")
    out = Path(args.out) if args.out else RESULTS / name
    results = run_sweep(cells, out, workers=min(args.workers, len(cells)), root=args.cache,
                        progress=not args.no_progress, name=name, command=command, threads=args.threads,
                        cached_only=args.cached_only)
    rows = [flat_row(r) for r in results]
    keys = ("zh", "size", "design", "steps", "seed", "cloze_zh_B", "untuned_knowledge", "chat_knowledge",
            "chat_answer_zh", "chat_upper_bound")
    for row in rows:
        print(json.dumps({k: row[k] for k in keys}))
    print(f"results in {out}/ (cells.json, cells.csv, summary.csv, plots)")
    return 0
