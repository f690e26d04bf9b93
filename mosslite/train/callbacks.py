"""Lightning callbacks for pretraining: loss and divergence, throughput and MFU, samples, atomic checkpoints.

All of them write into one `History`, which the CLI prints from, the tests compare and the notebook dashboard draws.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.strategies import ModelParallelStrategy

from mosslite.checkpoint import save_checkpoint
from mosslite.model import build_model


class DivergenceError(RuntimeError):
    """The loss became NaN or infinite: training stopped before the bad weights could be saved."""


@dataclass(eq=False)  # compared by identity, like any callback
class History(L.Callback):
    """Everything a run measured, step by step (steps count optimizer updates, from 1)."""

    train: list[tuple[int, float]] = field(default_factory=list)  # (step, mean loss over the global batch)
    val: list[tuple[int, float]] = field(default_factory=list)
    lr: list[tuple[int, float]] = field(default_factory=list)
    tokens_per_s: list[tuple[int, float]] = field(default_factory=list)
    mfu: list[tuple[int, float]] = field(default_factory=list)
    samples: list[tuple[int, str]] = field(default_factory=list)
    max_steps: int = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.max_steps = trainer.max_steps

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking and "val/loss" in trainer.callback_metrics:
            self.val.append((trainer.global_step, float(trainer.callback_metrics["val/loss"])))


def log_metrics(trainer: L.Trainer, metrics: dict[str, float]) -> None:
    """Hand metrics straight to the loggers every `log_every_n_steps` steps, on rank 0.

    `LightningModule.log` would also work, but it costs milliseconds per call (it keeps running aggregates for
    every key); for a small model on a CPU that alone is a 10-20% slowdown.
    """
    if trainer.is_global_zero and trainer.global_step % trainer.log_every_n_steps == 0:
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)


class ProgressBar(TQDMProgressBar):
    """Lightning's progress bar showing the newest loss, validation loss and tokens/s from the run's `History`."""

    def __init__(self, history: History) -> None:
        super().__init__()
        self.history = history

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict:
        h = self.history
        shown = {k: v for k, v in super().get_metrics(trainer, pl_module).items() if k != "v_num"}
        if h.train:
            shown["loss"] = f"{h.train[-1][1]:.3f}"
        if h.tokens_per_s:
            shown["tok/s"] = f"{h.tokens_per_s[-1][1]:,.0f}"
        return shown


def _step_finished(trainer: L.Trainer, last_step: int) -> bool:
    """True in on_train_batch_end when this micro-batch completed an optimizer step (not mid-accumulation)."""
    return trainer.global_step != last_step


class TrainLoss(L.Callback):
    """Logs the loss of each optimizer step (averaged over its micro-batches and all ranks) and the learning rate,
    and stops the run with `DivergenceError` the moment the loss is NaN or infinite."""

    def __init__(self, history: History) -> None:
        self.history = history
        self._losses: list[torch.Tensor] = []
        self._step = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._step, self._losses = trainer.global_step, []

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int):
        self._losses.append(outputs["loss"])  # Lightning already divided it by the accumulation count
        if not _step_finished(trainer, self._step):
            return
        self._step = trainer.global_step
        loss = float(trainer.strategy.reduce(torch.stack(self._losses).sum(), reduce_op="mean"))
        self._losses = []
        if not math.isfinite(loss):
            saver = next((cb for cb in trainer.callbacks if isinstance(cb, Checkpointer)), None)
            last = saver.last if saver else None
            where = f"the last good checkpoint is {last}" if last else "no checkpoint was saved before it"
            raise DivergenceError(f"the training loss became {loss} at step {self._step}; {where}. Resume from it "
                                  f"with a lower lr or a longer warmup (this step's update is not saved)")
        lr = trainer.optimizers[0].param_groups[0]["lr"]  # the rate the next step will use
        self.history.train.append((self._step, loss))
        self.history.lr.append((self._step, lr))
        log_metrics(trainer, {"train/loss": loss, "train/lr": lr})


def measure_cpu_flops(dtype: torch.dtype = torch.float32, n: int = 1024, repeats: int = 8) -> float:
    """Peak FLOP/s this CPU reaches on a large matmul with the current thread count (best of three timings).

    A CPU's spec-sheet peak is rarely reachable from PyTorch; a well-shaped matmul is the practical ceiling, so MFU
    against it says how much of what the machine can do the model actually used.
    """
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b  # warm up: thread pool, allocator
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 * repeats / best


def peak_flops(device: torch.device, precision: str, given: float | None = None) -> float | None:
    """Peak FLOP/s of one device: `given` if set, measured on a CPU, from Lightning's table for known GPUs."""
    if given:
        return given
    dtype = torch.bfloat16 if precision.startswith("bf16") else torch.float32
    if device.type == "cpu":
        return measure_cpu_flops(dtype)
    from lightning.fabric.utilities.throughput import get_available_flops

    return get_available_flops(device, dtype)


class Throughput(L.Callback):
    """Tokens per second and model FLOPs utilisation (MFU), averaged over the last `window` optimizer steps.

    A step is timed from its first micro-batch's start to its last one's end, so evaluation, samples and checkpoint
    writes between steps do not count. MFU = achieved model FLOP/s / peak FLOP/s of all devices, where model FLOPs
    per token are 6·N (forward 2, backward 4, for every matmul weight) plus attention (PaLM, appendix B).
    """

    def __init__(self, history: History, flops_per_token: float, tokens_per_step: int, precision: str,
                 peak: float | None = None, window: int = 20) -> None:
        self.history = history
        self.flops_per_token = flops_per_token
        self.tokens_per_step = tokens_per_step
        self.precision = precision
        self.peak = peak  # per device; measured or looked up when the device is known, if not given
        self.window = window
        self._times: list[float] = []
        self._start: float | None = None
        self._step = 0

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.peak = peak_flops(pl_module.device, self.precision, self.peak)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._step = trainer.global_step

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if self._start is None:
            self._start = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int):
        if not _step_finished(trainer, self._step):
            return
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()  # kernels run asynchronously: wait for them before reading the clock
        self._times = (self._times + [time.perf_counter() - self._start])[-self.window:]
        self._start, self._step = None, trainer.global_step
        tokens_per_s = self.tokens_per_step * len(self._times) / sum(self._times)
        self.history.tokens_per_s.append((self._step, tokens_per_s))
        metrics = {"perf/tokens_per_s": tokens_per_s}
        if self.peak:
            mfu = tokens_per_s * self.flops_per_token / (self.peak * trainer.world_size)
            self.history.mfu.append((self._step, mfu))
            metrics["perf/mfu"] = mfu
        log_metrics(trainer, metrics)


class SampleText(L.Callback):
    """Every `every` steps, continue `prompt` with the model (greedy) and record the text: the loss made readable."""

    def __init__(self, history: History, tokenizer, prompt: str, every: int, new_tokens: int) -> None:
        self.history = history
        self.tokenizer = tokenizer
        self.prompt = prompt
        self.every = every
        self.new_tokens = new_tokens
        self._step = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._step = trainer.global_step

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int):
        if not _step_finished(trainer, self._step):
            return
        self._step = trainer.global_step
        if self._step % self.every == 0 or self._step == trainer.max_steps:
            text = self.sample(pl_module)
            self.history.samples.append((self._step, text))
            if trainer.is_global_zero:
                for logger in trainer.loggers:
                    if hasattr(logger.experiment, "add_text"):  # TensorBoard shows samples beside the curves
                        logger.experiment.add_text("sample", text, global_step=self._step)

    def sample(self, pl_module: L.LightningModule) -> str:
        """Greedy continuation; every rank runs it, since a sharded model needs all of them for a forward pass."""
        from mosslite.generate import generate

        model = pl_module.model
        model.eval()
        new = generate(model, [self.tokenizer.encode(self.prompt)], self.new_tokens, truncate=True)[0]
        model.train()
        return self.prompt + self.tokenizer.decode(new)


class Checkpointer(L.Callback):
    """A resumable checkpoint every `every` steps and at the end, written so that a crash never costs the last one.

    Lightning writes to a hidden temporary name; only a complete checkpoint is renamed to `step-NNNNNNN.ckpt`
    (`os.replace` is atomic), and only then are older ones pruned. A sharded (FSDP2) checkpoint is a folder with one
    file per rank and is handled the same way. At the end the weights are also exported as a plain mosslite
    checkpoint (`final/`: model.safetensors + config.json) for generation, fine-tuning and Hugging Face export.
    """

    def __init__(self, directory: str | Path, every: int, keep: int, export_dir: str | Path | None = None) -> None:
        self.directory = Path(directory)
        self.every = every
        self.keep = keep
        self.export_dir = Path(export_dir) if export_dir else None
        self.last: Path | None = None
        self._step = 0

    @staticmethod
    def latest(directory: str | Path) -> Path | None:
        """The newest complete checkpoint in `directory` (temporary names start with a dot and never match)."""
        found = sorted(Path(directory).glob("step-*.ckpt"))
        return found[-1] if found else None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._step = trainer.global_step
        self.last = self.latest(self.directory)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int):
        if _step_finished(trainer, self._step) and trainer.global_step % self.every == 0:
            self.save(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._step != trainer.global_step:
            self.save(trainer)
        if self.export_dir is not None:
            export_weights(trainer, pl_module, self.export_dir)

    def save(self, trainer: L.Trainer) -> Path:
        self._step = trainer.global_step
        final = self.directory / f"step-{trainer.global_step:07d}.ckpt"
        tmp = final.with_name(f".{final.name}.tmp")
        if trainer.is_global_zero:
            _remove(tmp)  # left over from a crash mid-save
        trainer.strategy.barrier()
        trainer.save_checkpoint(tmp, weights_only=False)  # every rank writes its part of a sharded checkpoint
        trainer.strategy.barrier()
        if trainer.is_global_zero:
            if final.is_dir():  # a rename replaces a file atomically, but not a folder
                shutil.rmtree(final)
            os.replace(tmp, final)
            for old in sorted(self.directory.glob("step-*.ckpt"))[: -self.keep]:
                _remove(old)
        trainer.strategy.barrier()
        self.last = final
        return final


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def export_weights(trainer: L.Trainer, pl_module: L.LightningModule, directory: Path) -> None:
    """Save the full model as a mosslite checkpoint (rank 0 writes; a sharded model is gathered first)."""
    model = pl_module.model
    if isinstance(trainer.strategy, ModelParallelStrategy):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        # A collective: every rank sends its shards; rank 0 receives the full tensors, on the CPU.
        state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        if trainer.is_global_zero:
            model = build_model(model.config, device="meta")
            model.load_state_dict(state, assign=True)  # adopt the gathered tensors: no second copy
    if trainer.is_global_zero:
        save_checkpoint(model, directory, extra={"step": trainer.global_step})
    trainer.strategy.barrier()
