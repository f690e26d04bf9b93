"""Two CPU processes (gloo) train exactly like one: Lightning DDP, and FSDP2 through ModelParallelStrategy, whose
sharded checkpoint also resumes. Each multi-process run is the real CLI in a subprocess, since both strategies
relaunch the script they were started from."""

import csv
import os
import shutil
import subprocess
import sys

import pytest
import torch
from train_support import pack_world

from mosslite.train import config_from_dict, pretrain

pytestmark = pytest.mark.slow

RUN = {"model": "toy", "max_steps": 6, "warmup_steps": 2, "block_size": 32, "val_every": 3, "val_batches": 2,
       "ckpt_every": 3, "log_every": 1, "peak_flops": 1e11, "accelerator": "cpu", "progress_bar": False}
GLOBAL_BATCH = 8


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return pack_world(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def one_process(data, tmp_path_factory):
    """Per-step losses of the same run in this process, the whole global batch on one device."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the workers: the same kernels, so the same rounding
    try:
        config = config_from_dict({**RUN, "data_dir": str(data), "out_dir": str(tmp_path_factory.mktemp("one")),
                                   "batch_size": GLOBAL_BATCH})
        return dict(pretrain(config, quiet=True).history.train)
    finally:
        torch.set_num_threads(threads)


def launch(data, out, strategy: str, *extra: str) -> dict[int, float]:
    """`mosslite pretrain` on 2 CPU processes; returns the per-step losses from its CSV log (newest value per step)."""
    config = out.parent / f"{out.name}.yaml"
    config.write_text("".join(f"{k}: {v}\n" for k, v in RUN.items()) + f"data_dir: {data}\nout_dir: {out}\n")
    cmd = [sys.executable, "-m", "mosslite.cli", "pretrain", "--config", str(config), "--strategy", strategy,
           "--devices", "2", "--batch_size", str(GLOBAL_BATCH // 2), *extra]
    env = dict(os.environ, OMP_NUM_THREADS="1")  # one thread per process: two processes on two cores
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    losses = {}
    for row in csv.DictReader(open(out / "csv" / "metrics.csv")):
        if row.get("train/loss"):
            losses[int(row["step"])] = float(row["train/loss"])
    return losses


def test_ddp_on_two_processes_matches_one(data, one_process, tmp_path):
    losses = launch(data, tmp_path / "ddp", "ddp")
    assert list(losses) == list(one_process) == [1, 2, 3, 4, 5, 6]
    assert list(losses.values()) == pytest.approx(list(one_process.values()), rel=1e-5)


def test_fsdp_on_two_processes_matches_one_and_resumes_from_shards(data, one_process, tmp_path):
    out = tmp_path / "fsdp"
    losses = launch(data, out, "fsdp")
    assert list(losses.values()) == pytest.approx(list(one_process.values()), rel=1e-5)

    shards = out / "checkpoints" / "step-0000003.ckpt"  # a folder: one file per rank plus Lightning's metadata
    assert {"__0_0.distcp", "__1_0.distcp", "meta.pt"} <= {p.name for p in shards.iterdir()}
    shutil.rmtree(out / "checkpoints" / "step-0000006.ckpt")  # as if the run had died before step 6 was saved
    resumed = launch(data, out, "fsdp", "--resume")
    assert [resumed[s] for s in (4, 5, 6)] == pytest.approx([losses[s] for s in (4, 5, 6)], rel=1e-6)
    assert (out / "final" / "model.safetensors").is_file()  # the gathered full weights
