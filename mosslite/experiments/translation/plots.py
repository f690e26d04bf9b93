"""Figures of a translation sweep: transfer vs Chinese share with the seed spread, one line per model size or design.

Shares sit at evenly spaced positions (0, 0.1%, 1%, 5%, …) rather than on a log axis, which has no place for 0.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; notebooks call the same functions with their own axes
import matplotlib.pyplot as plt  # noqa: E402

LABELS = {"chat_knowledge": "chat: knowledge transfer (ZH question, group B)",
          "chat_answer_zh": "chat: answers in Chinese", "chat_upper_bound": "chat: EN question (upper bound)",
          "cloze_zh_B": "cloze: ZH prefix, group B", "cloze_en_B": "cloze: EN prefix, group B",
          "question_zh_B": "base model: ZH question as plain text, group B",
          "untuned_knowledge": "base model: ZH question in chat format, group B"}
PANELS = ("cloze_zh_B", "question_zh_B", "untuned_knowledge", "chat_knowledge", "chat_answer_zh", "chat_upper_bound")


def share_label(share: float) -> str:
    return "0" if share == 0 else f"{100 * share:g}%"


def transfer_plot(rows: list[dict], ax, metric: str = "chat_knowledge", by: str = "size",
                  where: dict | None = None, baseline: bool = True) -> None:
    """`metric` (mean over seeds, bars = min..max, dots = seeds) against the Chinese share, one line per value of `by`
    among the rows matching `where`; with `baseline`, a dotted line at each series' 0% mean."""
    rows = [r for r in rows if all(r[k] == v for k, v in (where or {}).items())]
    shares = sorted({r["zh"] for r in rows})
    x_of = {s: i for i, s in enumerate(shares)}
    series: dict = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r.get(metric) is not None:
            series[r[by]][r["zh"]].append(100 * r[metric])
    for n, (name, points) in enumerate(sorted(series.items(), key=lambda kv: str(kv[0]))):
        xs = sorted(points)
        means = [statistics.fmean(points[s]) for s in xs]
        lo = [m - min(points[s]) for m, s in zip(means, xs)]
        hi = [max(points[s]) - m for m, s in zip(means, xs)]
        pos = [x_of[s] + 0.06 * (n - len(series) / 2) for s in xs]  # a small offset keeps the bars apart
        line = ax.errorbar(pos, means, yerr=[lo, hi], marker="o", capsize=3, label=f"{by}={name}")
        for p, s in zip(pos, xs):
            ax.scatter([p] * len(points[s]), points[s], s=8, color=line[0].get_color(), alpha=0.5)
        if baseline and 0.0 in points:
            ax.axhline(statistics.fmean(points[0.0]), color=line[0].get_color(), ls=":", lw=1)
    ax.set_xticks(range(len(shares)), [share_label(s) for s in shares])
    ax.set_xlabel("Chinese share of pretraining")
    ax.set_ylabel("% correct")
    ax.set_ylim(-3, 103)
    ax.set_title(LABELS.get(metric, metric), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def reference_value(rows: list[dict], axis: str):
    """The value other axes are held at while one varies: the default cell's, else the most common one."""
    from collections import Counter

    from mosslite.experiments.translation.design import Cell

    values = Counter(r[axis] for r in rows)
    default = getattr(Cell(), axis)
    return default if default in values else values.most_common(1)[0][0]


def plot_sweep(rows: list[dict], out: Path) -> list[Path]:
    """transfer_vs_share.png (the rungs: cloze, plain-text question, chat on the untuned base, chat after tuning;
    then answer language and the upper bound), and one such figure per other axis that varies (design, steps, tune)."""
    written = []
    axes_names = ("size", "design", "steps", "tune")
    for by in axes_names:
        if len({r[by] for r in rows}) < 2 and by != "size":
            continue
        where = {k: reference_value(rows, k) for k in axes_names if k != by}
        fig, axes = plt.subplots(1, len(PANELS), figsize=(4.4 * len(PANELS), 4))
        for ax, metric in zip(axes, PANELS):
            transfer_plot(rows, ax, metric, by=by, where=where, baseline=metric == "chat_knowledge")
        fig.tight_layout()
        path = out / ("transfer_vs_share.png" if by == "size" else f"transfer_by_{by}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
