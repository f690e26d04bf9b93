"""A live pretraining dashboard for Jupyter: loss curves, tokens/s and the latest sample, redrawn as training runs.

`TrainDashboard` is a Lightning callback: pass it to `mosslite.train.pretrain(config, callbacks=[dashboard])` and
display it. It reads the run's `History`, so it shows exactly what the logs record.
"""

from __future__ import annotations

import html
import math
import time

import ipywidgets as widgets
import lightning as L
import matplotlib.pyplot as plt
from IPython.display import display

from mosslite.config import PRESETS
from mosslite.train.callbacks import History


def plot_history(history: History, baseline: float | None = None, title: str = "") -> plt.Figure:
    """Train and validation loss against steps (with the uniform-guess baseline), and tokens/s with MFU."""
    fig, (ax_loss, ax_speed) = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [2, 1]})
    if history.train:
        steps, losses = zip(*history.train)
        ax_loss.plot(steps, losses, color="tab:blue", alpha=0.35, lw=1, label="train (per step)")
        ax_loss.plot(steps, _ema(losses), color="tab:blue", lw=2, label="train (smoothed)")
    if history.val:
        ax_loss.plot(*zip(*history.val), "o-", color="tab:orange", lw=2, ms=4, label="validation")
    if baseline is not None:
        ax_loss.axhline(baseline, color="grey", ls="--", lw=1, label=f"uniform guess, ln V = {baseline:.2f}")
    ax_loss.set(xlabel="step", ylabel="cross-entropy (nats/token)", title=title or "loss",
                xlim=(0, max(history.max_steps, 1)))
    ax_loss.legend(loc="upper right", fontsize=8)
    if history.tokens_per_s:
        ax_speed.plot(*zip(*history.tokens_per_s), color="tab:green")
        ax_speed.set_ylim(bottom=0)
    mfu = f" (MFU {100 * history.mfu[-1][1]:.1f}%)" if history.mfu else ""
    ax_speed.set(xlabel="step", ylabel="tokens/s", title="throughput" + mfu)
    fig.tight_layout()
    return fig


def _ema(values, beta: float = 0.9) -> list[float]:
    """Bias-corrected exponential moving average: a readable trend through noisy per-step losses."""
    out, avg = [], 0.0
    for i, v in enumerate(values, 1):
        avg = beta * avg + (1 - beta) * v
        out.append(avg / (1 - beta**i))
    return out


class TrainDashboard(L.Callback):
    """Loss curves, a status line (step, losses, tokens/s, MFU, time left) and the newest sample, refreshed at most
    every `refresh_s` seconds so that drawing never slows training down noticeably."""

    def __init__(self, refresh_s: float = 2.0, title: str = "") -> None:
        self.refresh_s = refresh_s
        self.title = title
        self.history: History | None = None
        self.baseline: float | None = None
        self.status = widgets.HTML()
        self.plot = widgets.Output()
        self.sample = widgets.HTML()
        self.box = widgets.VBox([self.status, self.plot, self.sample])
        self._last_draw = 0.0
        self._start = 0.0
        self._first_step = 0

    def _ipython_display_(self) -> None:
        display(self.box)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.history = next(cb for cb in trainer.callbacks if isinstance(cb, History))
        self.baseline = math.log(pl_module.model_config.vocab_size)
        self._start, self._first_step = time.perf_counter(), trainer.global_step
        self.status.value = "<b>starting…</b>"

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int):
        if time.perf_counter() - self._last_draw >= self.refresh_s:
            self.refresh(trainer.global_step)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.refresh(trainer.global_step)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.refresh(trainer.global_step, done=True)

    def refresh(self, step: int, done: bool = False) -> None:
        h = self.history
        if h is None or not h.train:
            return
        elapsed = time.perf_counter() - self._start
        per_step = elapsed / max(step - self._first_step, 1)
        parts = [f"step {step:,}/{h.max_steps:,}", f"train {h.train[-1][1]:.3f}"]
        if h.val:
            parts.append(f"val {h.val[-1][1]:.3f}")
        if h.tokens_per_s:
            parts.append(f"{h.tokens_per_s[-1][1]:,.0f} tokens/s")
        if h.mfu:
            parts.append(f"MFU {100 * h.mfu[-1][1]:.1f}%")
        parts.append(f"{elapsed:.0f} s" + ("" if done else f", ~{per_step * (h.max_steps - step):.0f} s left"))
        self.status.value = ("<b>done</b> · " if done else "") + " · ".join(parts)
        with self.plot:
            self.plot.clear_output(wait=True)
            fig = plot_history(h, self.baseline, self.title)
            display(fig)
            plt.close(fig)
        if h.samples:
            s, text = h.samples[-1]
            self.sample.value = f"<b>sample at step {s}</b><pre style='white-space:pre-wrap'>{html.escape(text)}</pre>"
        self._last_draw = time.perf_counter()


def run_controls(model: str = "tiny", steps: int = 600, max_steps: int = 3000) -> widgets.VBox:
    """Sliders for a notebook run: model size (a preset) and number of steps; read `.model.value`, `.steps.value`."""
    box = widgets.VBox()
    box.model = widgets.SelectionSlider(options=[p for p in PRESETS if p in ("toy", "tiny", "small")], value=model,
                                        description="model")
    box.steps = widgets.IntSlider(value=steps, min=50, max=max_steps, step=50, description="steps")
    box.children = [box.model, box.steps]
    return box
