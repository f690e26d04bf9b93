"""The corpus mixture as a chart: target and actual share of each source on a log scale (0.1 % must be visible
next to 99.9 %), with how often each source is read."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from mosslite.data.corpora import Mixture


def plot_mixture(mixture: Mixture, title: str = "corpus mixture") -> plt.Figure:
    names = [r.source for r in mixture.rows]
    target = [r.target_share for r in mixture.rows]
    actual = [mixture.share(r) for r in mixture.rows]
    y = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(8, 0.6 + 0.55 * len(names)))
    ax.barh(y + 0.2, target, height=0.38, color="#adb5bd", label="target share")
    ax.barh(y - 0.2, actual, height=0.38, color="#1971c2", label="actual share")
    for i, row in enumerate(mixture.rows):
        ax.text(actual[i] * 1.1, y[i] - 0.2, f"{actual[i]:.3%}, {row.units:,} units, read {row.epochs:.2f}×",
                va="center", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(min(actual + target) / 3, 30)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set(xlabel="share of units (log scale)", title=title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig
