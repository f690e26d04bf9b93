"""Fine-tuning on two CPU processes (Lightning DDP, gloo): the real `mosslite sft` CLI in a subprocess, LoRA adapters
synchronised across ranks, and one merged plain model exported by rank 0."""

import csv
import os
import subprocess
import sys

import pytest
import torch
import yaml
from sft_support import make_base, sft_settings

from mosslite.checkpoint import load_checkpoint
from mosslite.train.sft import sft
from mosslite.train.sft_config import sft_config_from_dict

pytestmark = pytest.mark.slow


def test_lora_sft_on_two_processes_follows_one(tmp_path):
    base, tokenizer = make_base(tmp_path / "base")
    settings = sft_settings(base, tokenizer, tmp_path / "one", finetune="lora", lora_rank=4, max_steps=6,
                            val_every=3, ckpt_every=3, accelerator="cpu", batch_size=8)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one = dict(sft(sft_config_from_dict(settings), quiet=True).history.train)
    finally:
        torch.set_num_threads(threads)

    config = tmp_path / "ddp.yaml"
    config.write_text(yaml.safe_dump({**settings, "out_dir": str(tmp_path / "ddp")}))
    cmd = [sys.executable, "-m", "mosslite.cli", "sft", "--config", str(config), "--strategy", "ddp",
           "--devices", "2", "--batch_size", "4"]
    done = subprocess.run(cmd, env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    losses = {int(r["step"]): float(r["train/loss"]) for r in csv.DictReader(open(tmp_path / "ddp/csv/metrics.csv"))
              if r.get("train/loss")}
    assert list(losses) == list(one) == [1, 2, 3, 4, 5, 6]
    # The same conversations in every global batch, each trained token weighed the same as in one process.
    assert list(losses.values()) == pytest.approx(list(one.values()), rel=1e-5)
    exported = load_checkpoint(tmp_path / "ddp" / "final")
    assert "lora_a" not in " ".join(exported.state_dict())
