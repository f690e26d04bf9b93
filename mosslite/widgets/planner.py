"""A planner widget: choose a model and a cluster, see memory per device as stacked bars and the days of training."""

from __future__ import annotations

import ipywidgets as w
import matplotlib.pyplot as plt
from IPython.display import display

from mosslite.config import PRESETS, get_config
from mosslite.scaling import plan

KINDS = (("weights_gb", "weights"), ("gradients_gb", "gradients"), ("optimizer_gb", "optimizer"),
         ("activations_gb", "activations"), ("buffers_gb", "FSDP buffers"))
SETUPS = (("ddp", False), ("fsdp", False), ("fsdp", True))  # the three bars: what sharding and recompute buy


def draw_plan(preset: str, gpus: int, gpu_memory: float, seq_len: int, micro_batch: int, precision: str,
              mfu: float, peak_tflops: float, ax=None):
    """Stacked memory per device for DDP, FSDP and FSDP + activation checkpointing, against the device's memory."""
    config = get_config(preset)
    seq_len = min(seq_len, config.block_size)
    plans = [plan(config, gpus, s, precision, c, seq_len, micro_batch) for s, c in SETUPS]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.6))
    labels = ["DDP", "FSDP", "FSDP +\ncheckpointing"]
    bottom = [0.0] * len(plans)
    for attr, name in KINDS:
        values = [getattr(p, attr) for p in plans]
        ax.bar(labels, values, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.axhline(gpu_memory, color="black", linestyle="--", linewidth=1)
    ax.text(2.45, gpu_memory, f" {gpu_memory:g} GB", va="bottom", ha="right")
    days = plans[-1].days_to_train(plans[-1].compute_optimal_tokens, peak_tflops, mfu)
    ax.set_title(f"{preset}: {plans[0].parameters / 1e9:.2f}B parameters on {gpus} device(s); "
                 f"{days:,.1f} days for 20 tokens/parameter at {mfu:.0%} MFU", fontsize=9)
    ax.set_ylabel("GB per device")
    ax.legend(fontsize=8, loc="upper right")
    return plans


def planner_widget(preset: str = "moss-16b") -> w.Widget:
    """Sliders for the run; the chart redraws on every change."""
    controls = dict(
        preset=w.Dropdown(options=list(PRESETS), value=preset, description="model"),
        gpus=w.IntSlider(value=8, min=1, max=64, description="GPUs"),
        gpu_memory=w.FloatSlider(value=80, min=8, max=192, step=8, description="GB/GPU"),
        seq_len=w.IntSlider(value=2048, min=128, max=8192, step=128, description="seq len"),
        micro_batch=w.IntSlider(value=1, min=1, max=32, description="micro-batch"),
        precision=w.Dropdown(options=["bf16-mixed", "32-true", "bf16-true"], description="precision"),
        mfu=w.FloatSlider(value=0.4, min=0.05, max=0.8, step=0.05, description="MFU"),
        peak_tflops=w.FloatText(value=989.5, description="peak TFLOP/s"),
    )
    out = w.Output()

    def redraw(*_):
        with out:
            out.clear_output(wait=True)
            draw_plan(**{k: c.value for k, c in controls.items()})
            plt.show()

    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    box = w.VBox([w.HBox(list(controls.values())[:4]), w.HBox(list(controls.values())[4:]), out])
    box.controls = controls  # so a notebook (or a test) can drive it
    return box


def show_planner(preset: str = "moss-16b") -> None:
    display(planner_widget(preset))
