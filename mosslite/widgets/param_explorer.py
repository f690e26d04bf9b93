"""A parameter-count explorer: pick a preset, see where its parameters go (embedding, attention, MLP, norms, head).

Models are built on the meta device, so even moss-16b is counted exactly in a second or two and costs no memory.
"""

from __future__ import annotations

from functools import cache

import ipywidgets as w
import matplotlib.pyplot as plt
from IPython.display import display

from mosslite.config import PRESETS, get_config
from mosslite.model import build_model
from mosslite.scaling import parameter_breakdown


@cache
def _breakdown(preset: str) -> tuple[tuple[str, int], ...]:
    return tuple(parameter_breakdown(build_model(get_config(preset), device="meta")).items())


def preset_breakdown(preset: str) -> dict[str, int]:
    """`parameter_breakdown` of a preset built on the meta device.

    Cached because a preset never changes and building moss-16b's 34 blocks, even shapeless, takes a moment.
    """
    return dict(_breakdown(preset))


def draw_breakdown(preset: str, ax=None) -> dict[str, int]:
    """Bar chart of a preset's parameters by role, each bar labelled with its share of the total.

    Returns the counts drawn, so a caller (or a test) can check the data behind the picture.
    """
    counts = preset_breakdown(preset)
    total = sum(counts.values())
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.2))
    bars = ax.bar(list(counts), list(counts.values()), color=["#4c72b0", "#dd8452", "#55a868", "#8172b3", "#c44e52"])
    for bar, n in zip(bars, counts.values()):
        ax.annotate(f"{n / total:.1%}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8)
    ax.set_yscale("symlog", linthresh=1)  # norms are tiny next to the MLP; a log axis keeps every bar visible
    ax.set_ylabel("parameters")
    ax.set_title(f"{preset}: {total:,} parameters", fontsize=10)
    return counts


def param_explorer_widget(preset: str = "moss-16b") -> w.Widget:
    """A dropdown of presets over the bar chart; `box.last` holds the counts and axes of the latest drawing.

    The chart redraws whenever the dropdown changes.
    """
    dropdown = w.Dropdown(options=list(PRESETS), value=preset, description="model")
    out = w.Output()
    box = w.VBox([dropdown, out])
    box.controls = {"preset": dropdown}  # so a notebook (or a test) can drive it
    box.last = {}

    def redraw(*_) -> None:
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(7, 3.2))
            box.last = {"preset": dropdown.value, "counts": draw_breakdown(dropdown.value, ax), "ax": ax}
            plt.show()
            plt.close(fig)

    dropdown.observe(redraw, names="value")
    redraw()
    return box


def show_param_explorer(preset: str = "moss-16b") -> None:
    """Display the explorer in a notebook.

    A one-liner for chapter 3 and chapter 8.
    """
    display(param_explorer_widget(preset))
