"""`pretrain(config)`: data, model, callbacks and a Lightning `Trainer` built from one `PretrainConfig`, then fit.

The CLI, the notebook, the benchmarks and the tests all call this one function, so what a student runs on a laptop is
what a researcher launches on a cluster: only `strategy`, `devices` and `precision` change. `fit` is that Trainer with
mosslite's callbacks; fine-tuning (`mosslite.train.sft`) runs on it too.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.strategies import DDPStrategy, ModelParallelStrategy

from mosslite.scaling import training_flops_per_token
from mosslite.train.callbacks import Checkpointer, History, ProgressBar, SampleText, Throughput, TrainLoss
from mosslite.train.config import PretrainConfig
from mosslite.train.data import PackedDataModule
from mosslite.train.module import PretrainModule


@dataclass
class PretrainResult:
    """What a finished run leaves behind (on every rank; only rank 0 writes files)."""

    history: History
    module: PretrainModule  # holds the trained model (sharded under FSDP2)
    checkpoint: Path | None  # the last resumable Lightning checkpoint
    final_dir: Path  # the final weights as a mosslite checkpoint (load_checkpoint reads it)
    wall_time: float  # seconds in trainer.fit, everything included


def make_strategy(config: PretrainConfig):
    """Lightning strategy for `config.strategy`: one device, DDP (replicas), or FSDP2 (shards) via ModelParallel."""
    if config.strategy == "ddp":
        return DDPStrategy(find_unused_parameters=False, timeout=timedelta(minutes=30))
    if config.strategy == "fsdp":
        # All devices form one data-parallel group; tensor parallelism (the other mesh axis) is not used here.
        return ModelParallelStrategy(data_parallel_size=config.devices * config.num_nodes, tensor_parallel_size=1)
    return "auto"


def pretrain(config: PretrainConfig, resume: bool = False, callbacks: Sequence[L.Callback] = (),
             quiet: bool = False) -> PretrainResult:
    """Train from scratch (or continue the run in `config.out_dir` with `resume=True`); return the history.

    `callbacks` are added after mosslite's own (e.g. the notebook's live dashboard); `quiet` hides Lightning's banner
    and the progress bar.
    """
    out = Path(config.out_dir)
    data = PackedDataModule(config)
    tokenizer = data.tokenizer
    model_config = config.model_config(vocab_size=data.vocab_size)
    world = config.devices * config.num_nodes
    tokens_per_step = config.batch_size * config.context * config.grad_accum * world
    extra = []
    if config.sample_every and tokenizer is not None:
        extra.append(lambda history: SampleText(history, tokenizer, config.sample_prompt, config.sample_every,
                                                config.sample_tokens))
    module = PretrainModule(model_config, config)
    history, last, wall_time = fit(module, data, config, resume=resume, callbacks=callbacks, quiet=quiet,
                                   flops_per_token=training_flops_per_token(model_config, config.context),
                                   tokens_per_step=tokens_per_step, extra=extra, export_dir=out / "final")
    return PretrainResult(history, module, last, out / "final", wall_time)


def fit(module: L.LightningModule, data: L.LightningDataModule, config, *, resume: bool,
        callbacks: Sequence[L.Callback], quiet: bool, flops_per_token: float, tokens_per_step: float,
        extra: Sequence = (), export_dir: Path | None = None) -> tuple[History, Path | None, float]:
    """The Trainer every mosslite run uses (pretraining and fine-tuning), with its own callbacks, then `fit`.

    `config` supplies the shared knobs (out_dir, hardware, cadence, optimisation); `extra` are factories
    `history -> callback` placed before the checkpointer. Returns (history, last resumable checkpoint, seconds).
    """
    out = Path(config.out_dir)
    ckpt_dir = out / "checkpoints"
    latest = Checkpointer.latest(ckpt_dir)
    if resume and latest is None:
        raise FileNotFoundError(f"--resume: no checkpoint in {ckpt_dir}; start the run without --resume")
    if not resume and latest is not None:
        raise ValueError(f"out_dir={out} already holds checkpoints (newest {latest.name}); pass --resume to "
                         f"continue that run, or choose a new out_dir")

    history = History()
    own = [history, TrainLoss(history)]
    own.append(Throughput(history, flops_per_token, tokens_per_step, config.precision, config.peak_flops))
    own += [make(history) for make in extra]
    own.append(Checkpointer(ckpt_dir, config.ckpt_every, config.keep_checkpoints, export_dir=export_dir))
    show_progress = config.progress_bar and not quiet
    if show_progress:
        own.append(ProgressBar(history))
    with _lightning_output(quiet):
        trainer = L.Trainer(
            accelerator=config.accelerator, devices=config.devices, num_nodes=config.num_nodes,
            strategy=make_strategy(config), precision=config.precision, max_steps=config.max_steps,
            accumulate_grad_batches=config.grad_accum, gradient_clip_val=config.grad_clip or None,
            val_check_interval=config.val_every * config.grad_accum, check_val_every_n_epoch=None,
            num_sanity_val_steps=0, log_every_n_steps=config.log_every,
            logger=[CSVLogger(out, name="csv", version=""), TensorBoardLogger(out, name="tensorboard", version="")],
            callbacks=[*own, *callbacks], enable_checkpointing=False,  # Checkpointer writes them, atomically
            enable_progress_bar=show_progress, enable_model_summary=False,
            use_distributed_sampler=False,  # the data module gives each rank its slice of every global batch
            default_root_dir=out,
        )
        start = time.perf_counter()
        trainer.fit(module, datamodule=data, ckpt_path=latest if resume else None)
    return history, Checkpointer.latest(ckpt_dir), time.perf_counter() - start


@contextmanager
def _lightning_output(quiet: bool):
    """Hide warnings that are noise for this recipe and, with `quiet`, Lightning's banner; restore both after."""
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Experiment logs directory")  # on resume CSVLogger appends
        warnings.filterwarnings("ignore", message="FSDP2-wrapped module")  # logits are a view; nothing edits them
        warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)`")  # Lightning vs new torch
        if quiet:
            for logger in loggers:
                logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)
