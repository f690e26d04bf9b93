"""A bit-width slider over measured precisions: memory, decoding speed and perplexity of one model at 32, 16, 8, 4 bits."""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as w
import matplotlib.pyplot as plt
from IPython.display import display

from mosslite.deploy import PrecisionRow

BITS = {"fp32": 32, "bf16": 16, "int8": 8, "int4": 4}
PANELS = (("bytes", "memory (MB)", 1e-6), ("tokens_per_s", "decoding tokens/s", 1.0), ("perplexity", "perplexity", 1.0))


def draw_precisions(rows: Sequence[PrecisionRow], selected: str, axes=None):
    """Three bar charts (memory, tokens/s, perplexity) with the selected precision highlighted and its ratios to fp32."""
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(10, 3))
    ref = rows[0]
    chosen = next(r for r in rows if r.precision == selected)
    for ax, (attr, label, unit) in zip(axes, PANELS):
        values = [getattr(r, attr) * unit for r in rows]
        colors = ["tab:orange" if r.precision == selected else "tab:gray" for r in rows]
        ax.bar([r.precision for r in rows], values, color=colors)
        ratio = getattr(chosen, attr) / getattr(ref, attr)
        ax.set_title(f"{label}\n{selected}: {getattr(chosen, attr) * unit:,.1f} ({ratio:.2f}× {ref.precision})",
                     fontsize=9)
        if attr == "perplexity":  # the differences are small: zoom in around the values
            ax.set_ylim(min(values) * 0.98, max(values) * 1.02)
    return axes


def precision_widget(rows: Sequence[PrecisionRow]) -> w.Widget:
    """A slider over the measured bit widths; the charts redraw on every change."""
    options = [(f"{BITS[r.precision]} bits ({r.precision})", r.precision) for r in rows]
    slider = w.SelectionSlider(options=options, value=rows[-1].precision, description="weights",
                               continuous_update=False, layout=w.Layout(width="420px"))
    out = w.Output()

    def redraw(*_):
        with out:
            out.clear_output(wait=True)
            draw_precisions(rows, slider.value)
            plt.tight_layout()
            plt.show()

    slider.observe(redraw, names="value")
    redraw()
    box = w.VBox([slider, out])
    box.slider = slider  # so a notebook (or a test) can drive it
    return box


def show_precisions(rows: Sequence[PrecisionRow]) -> None:
    display(precision_widget(rows))
