"""Named sweeps over cells, run in parallel worker processes, written as JSON + CSV + plots.

Cells that share a pretrained base (they differ only in the fine-tuning recipe) run in one worker, one after the
other, so the base is trained once. Every number is a function of the cells' seeds; only timings and load vary.

    results/translation/<sweep>/cells.json    every cell: config, seeds, losses, cloze and chat scores, raw answers
    results/translation/<sweep>/cells.csv     one row per cell
    results/translation/<sweep>/summary.csv   mean, std, min and max over seeds for each configuration
    results/translation/<sweep>/*.png         transfer vs Chinese share (seed spread), and per-axis plots
    results/translation/<sweep>/run.json      the command, wall time, load before/after, machine
"""

from __future__ import annotations

import csv
import json
import os
import platform
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, fields, replace
from multiprocessing import get_context
from pathlib import Path

from mosslite.experiments.stages import stage_done
from mosslite.experiments.translation.design import DESIGNS, TUNES, Cell
from mosslite.experiments.translation.pipeline import base_key, load, run_cell, stage_dir

RESULTS = Path("results/translation")
SEEDS = (0, 1, 2)
SHARES = (0.0, 0.001, 0.01, 0.05)
STEPS = 2000  # pretraining steps of every sweep cell (the toy model's Chinese cloze is still rising there)


def _grid(seeds=SEEDS, **axes) -> list[Cell]:
    """Every combination of the listed axis values (each a tuple), times the seeds."""
    cells = [Cell()]
    for name, values in axes.items():
        cells = [replace(c, **{name: v}) for c in cells for v in values]
    return [replace(c, seed=s) for c in cells for s in seeds]


def sweep_cells(name: str) -> list[Cell]:
    """The cells of sweep `name` (see SWEEPS), without duplicates, in a fixed order."""
    if name not in SWEEPS:
        raise ValueError(f"unknown sweep {name!r}; choose one of {', '.join(SWEEPS)}")
    return list(dict.fromkeys(SWEEPS[name]()))


SWEEPS: dict[str, Callable[[], list[Cell]]] = {
    # The headline: the default design at every share, 3 seeds.
    # The toy model, so that its 12 cells fit well inside an hour on two cores (see run.json: cpu_s).
    "default": lambda: _grid(zh=SHARES, size=("toy",), steps=(STEPS,)),
    # The target on its own: 0% and 1% Chinese, 3 seeds (a subset of the default sweep, half its cost).
    "target": lambda: _grid(zh=(0.0, 0.01), size=("toy",), steps=(STEPS,)),
    # Scans of the other axes (3 seeds; each cell's 0% control included), cheapest first:
    # English-only fine-tuning recipes on the default bases: the standard one, LoRA, one answer template, fewer steps,
    # a lower rate.
    "tunes": lambda: _grid(zh=(0.0, 0.01, 0.1), tune=tuple(t for t in TUNES if t != "smoke"), size=("toy",),
                           steps=(STEPS,)),
    # Model size at the target's shares, three presets: toy (the target's cells, cached), tiny (~7 CPU-min per base)
    # and small (~1 CPU-hour per base, 8.6x tiny's steps). Tiny has 5 seeds, not 3: with 3 its gain sat on the
    # target's +30 line and the spread was wide. From scratch this is ~8 CPU-hours, nearly all of it small's.
    "sizes": lambda: (_grid(zh=(0.0, 0.01), size=("toy",), steps=(STEPS,))
                      + _grid(seeds=(0, 1, 2, 3, 4), zh=(0.0, 0.01), size=("tiny",), steps=(STEPS,))
                      + _grid(zh=(0.0, 0.01), size=("small",), steps=(STEPS,))),
    # small's six cells alone (3 seeds x 2 shares ~6 CPU-hours), to fill in one base at a time with --cached-only.
    "sizes-small": lambda: _grid(zh=(0.0, 0.01), size=("small",), steps=(STEPS,)),
    # What kind of Chinese text: every design at 1%, the target's share (at 0% designs differ only in the layout of
    # the English FAQ lines, so two 0% bases serve them all).
    "designs": lambda: _grid(zh=(0.0, 0.01), design=tuple(DESIGNS), size=("toy",), steps=(STEPS,)),
    # Pretraining length: half and double the default.
    "length": lambda: _grid(zh=(0.0, 0.1), size=("toy",), steps=(STEPS // 2, 2 * STEPS)),
    # Seconds-long: the whole machinery on the smallest model (tests and the notebook's smoke mode).
    "smoke": lambda: _grid(seeds=(0,), zh=(0.0, 0.05), size=("toy",), steps=(30,), tune=("smoke",)),
}


def run_sweep(cells: Sequence[Cell], out_dir: str | Path | None = None, workers: int = 2, root=None,
              progress: bool = True, name: str = "custom", command: str = "", threads: int | None = None,
              cached_only: bool = False) -> list[dict]:
    """Run `cells` (bases trained once, `workers` processes) and write the results. `threads` is torch threads per
    process: by default one per worker, or up to four when there is a single worker. `cached_only` skips the cells
    whose base is not pretrained yet (a sweep still being filled in); run.json lists them."""
    from tqdm.auto import tqdm

    skipped = [c for c in cells if cached_only and not base_cached(c, root)]
    cells = [c for c in cells if c not in skipped]
    if not cells:
        raise ValueError(f"none of the {len(skipped)} cells of {name!r} has a pretrained base in the cache yet")
    groups: dict[str, list[Cell]] = defaultdict(list)
    for cell in cells:
        groups[base_key(cell)].append(cell)
    order = sorted(groups.values(), key=lambda g: -_cost(g[0]))  # longest first: the workers finish together
    start, load_before = time.perf_counter(), load()
    results: list[dict] = []
    bar = tqdm(total=len(cells), desc=f"translation/{name}", unit="cell", disable=not progress)
    if threads is None:  # one process may use every core; several share them
        threads = max(1, min(4, os.cpu_count() or 1)) if workers <= 1 else 1
    if workers <= 1:
        for group in order:
            for row in _run_group(group, root, threads=threads):
                results.append(row)
                bar.update()
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_run_group, group, root, threads) for group in order]
            for future in as_completed(futures):
                for row in future.result():
                    results.append(row)
                    bar.update()
    bar.close()
    position = {c: i for i, c in enumerate(cells)}
    results.sort(key=lambda r: position[Cell(**r["cell"])])
    bases = {base_key(Cell(**r["cell"])): r["base"] for r in results}
    untuned = {base_key(Cell(**r["cell"])) + r["cell"]["tune"]: r.get("untuned", {}).get("cpu_time", 0)
               for r in results}  # one untuned probe per base and question count
    cpu = (sum(b["cpu_time"] for b in bases.values()) + sum(r["sft"]["cpu_time"] for r in results)
           + sum(untuned.values()))
    run = {"sweep": name, "command": command, "cells": len(cells), "bases": len(groups), "workers": workers,
           "threads": threads,
           "bases_trained_now": sum(b["fresh"] for b in bases.values()),
           "sft_runs_now": sum(r["sft"]["fresh"] for r in results),
           # CPU seconds of every stage (one torch thread each): what the sweep costs on quiet cores, whatever the
           # load was; divided by the workers it is the wall time on a quiet machine with that many cores.
           "cpu_s": round(cpu, 1), "quiet_estimate_min": round(cpu / max(workers, 1) / 60, 1),
           "wall_time_s": round(time.perf_counter() - start, 1), "load_before": load_before,
           "load_after": load(), "cpus": os.cpu_count(), "machine": platform.processor() or platform.machine(),
           "python": platform.python_version()}
    if skipped:
        run["skipped_not_cached"] = [c.label for c in skipped]
    if out_dir is not None:
        write_results(results, Path(out_dir), run)
    return results


def base_cached(cell: Cell, root=None) -> bool:
    return stage_done(stage_dir("base", base_key(cell), root)) is not None


def _cost(cell: Cell) -> float:
    """Relative pretraining cost, to start the longest bases first."""
    return cell.steps * {"toy": 0.25, "tiny": 1.0, "small": 6.0}[cell.size]


def _run_group(group: list[Cell], root, threads: int = 1) -> list[dict]:
    return [run_cell(cell, root=root, threads=threads).to_dict() for cell in group]


# ---------------------------------------------------------------------------------------------------- output
ROW_FIELDS = ("design", "size", "zh", "steps", "tune", "seed")


def flat_row(result: dict) -> dict:
    """One CSV row: the cell, the measured share and every headline number."""
    base, chat, cloze = result["base"], result["chat"], result["cloze"]
    untuned = result.get("untuned", {}).get("chat", {})
    row = {k: result["cell"][k] for k in ROW_FIELDS}
    row.update({
        "zh_measured": round(base["corpus"]["zh_share"], 5), "pretrain_loss": base["train_loss"][-1][1],
        "cloze_zh_B": cloze["zh"]["accuracy"].get("B/en"), "cloze_en_B": cloze["en"]["accuracy"].get("B/en"),
        "cloze_zh_A": _first(cloze["zh"]["accuracy"], "A/"), "cloze_zh_B_translated": cloze["zh"]["picked_zh"],
        "question_zh_B": base["question"]["zh"]["accuracy"].get("B/en"),
        "question_zh_B_answer_zh": base["question"]["zh"]["answer_zh"],
        # The chat probe before tuning (absent from results written before it was recorded).
        "untuned_knowledge": untuned.get("knowledge"), "untuned_answer_zh": untuned.get("answer_zh"),
        "untuned_upper_bound": untuned.get("upper_bound"),
        "chat_knowledge": chat["knowledge"], "chat_answer_zh": chat["answer_zh"], "chat_relation_ok": chat["relation_ok"],
        "chat_upper_bound": chat["upper_bound"], "chat_seen_zh": chat["seen_zh"],
        "pretrain_s": base["wall_time"], "pretrain_load": base["load"][0], "sft_s": result["sft"]["wall_time"],
        "parameters": base["parameters"],
    })
    return row


def _first(scores: dict, prefix: str):
    return next((v for k, v in scores.items() if k.startswith(prefix)), None)


METRICS = ("cloze_zh_B", "cloze_en_B", "question_zh_B", "question_zh_B_answer_zh", "untuned_knowledge",
           "untuned_answer_zh", "untuned_upper_bound", "chat_knowledge", "chat_answer_zh", "chat_relation_ok",
           "chat_upper_bound", "chat_seen_zh")


def summarize(rows: list[dict]) -> list[dict]:
    """Mean, population std, min and max over seeds of each metric, one row per configuration."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[tuple(row[k] for k in ROW_FIELDS if k != "seed")].append(row)
    out = []
    for key, members in groups.items():
        summary = dict(zip([k for k in ROW_FIELDS if k != "seed"], key))
        summary["seeds"] = len(members)
        for metric in METRICS:
            values = [m[metric] for m in members if m[metric] is not None]
            if values:
                summary[f"{metric}_mean"] = round(statistics.fmean(values), 4)
                summary[f"{metric}_std"] = round(statistics.pstdev(values), 4)
                summary[f"{metric}_min"], summary[f"{metric}_max"] = min(values), max(values)
        out.append(summary)
    return out


def _write_csv(path: Path, rows: list[dict]) -> None:
    names = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)


def write_results(results: list[dict], out: Path, run: dict) -> None:
    """cells.json, cells.csv, summary.csv, run.json and the plots, into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    rows = [flat_row(r) for r in results]
    (out / "cells.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))
    (out / "run.json").write_text(json.dumps(run, indent=1))
    _write_csv(out / "cells.csv", rows)
    _write_csv(out / "summary.csv", summarize(rows))
    from mosslite.experiments.translation.plots import plot_sweep

    plot_sweep(rows, out)


def load_results(folder: str | Path) -> list[dict]:
    """The cells.json of a finished sweep."""
    path = Path(folder) / "cells.json"
    if not path.is_file():
        raise FileNotFoundError(f"no results at {path}; run `mosslite experiment translation --sweep <name>` first")
    return json.loads(path.read_text())


def cell_fields() -> list[str]:
    return [f.name for f in fields(Cell)]


def as_cell(result: dict) -> Cell:
    return Cell(**result["cell"])


def to_dicts(cells: Sequence[Cell]) -> list[dict]:
    return [asdict(c) for c in cells]
