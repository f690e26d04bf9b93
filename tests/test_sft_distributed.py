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


def one_process(settings: dict) -> dict[int, float]:
    """Step -> training loss of `settings` run in this process, on one thread (as each of the two processes)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return dict(sft(sft_config_from_dict(settings), quiet=True).history.train)
    finally:
        torch.set_num_threads(threads)


def two_processes(settings: dict, out, strategy: str) -> dict[int, float]:
    """Step -> training loss of the real `mosslite sft` CLI on 2 CPU processes, each with half the batch."""
    config = out.parent / f"{out.name}.yaml"
    config.write_text(yaml.safe_dump({**settings, "out_dir": str(out)}))
    cmd = [sys.executable, "-m", "mosslite.cli", "sft", "--config", str(config), "--strategy", strategy,
           "--devices", "2", "--batch_size", str(settings["batch_size"] // 2)]
    done = subprocess.run(cmd, env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {int(r["step"]): float(r["train/loss"]) for r in csv.DictReader(open(out / "csv/metrics.csv"))
            if r.get("train/loss")}


def test_lora_sft_on_two_processes_follows_one(tmp_path):
    base, tokenizer = make_base(tmp_path / "base")
    settings = sft_settings(base, tokenizer, tmp_path / "one", finetune="lora", lora_rank=4, max_steps=6,
                            val_every=3, ckpt_every=3, accelerator="cpu", batch_size=8)
    one = one_process(settings)
    losses = two_processes(settings, tmp_path / "ddp", "ddp")
    assert list(losses) == list(one) == [1, 2, 3, 4, 5, 6]
    # The same conversations in every global batch, each trained token weighed the same as in one process.
    assert list(losses.values()) == pytest.approx(list(one.values()), rel=1e-5)
    exported = load_checkpoint(tmp_path / "ddp" / "final")
    assert "lora_a" not in " ".join(exported.state_dict())


def test_full_sft_under_fsdp_reads_the_base_shard_by_shard_and_follows_one_process(tmp_path):
    base, tokenizer = make_base(tmp_path / "base")
    settings = sft_settings(base, tokenizer, tmp_path / "one", finetune="full", max_steps=4, val_every=2,
                            ckpt_every=2, accelerator="cpu", batch_size=8)
    assert sft_config_from_dict({**settings, "strategy": "fsdp"}).meta_init  # built on meta, filled from shards
    one = one_process(settings)
    losses = two_processes(settings, tmp_path / "fsdp", "fsdp")
    assert list(losses) == list(one) == [1, 2, 3, 4]
    # Step 1's loss is the base's own: the shards were filled with the base's weights, not a fresh init.
    assert list(losses.values()) == pytest.approx(list(one.values()), rel=1e-5)
    exported, reference = load_checkpoint(tmp_path / "fsdp" / "final"), load_checkpoint(tmp_path / "one" / "final")
    start = load_checkpoint(base).state_dict()
    for name, tensor in reference.state_dict().items():
        moved = (tensor - start[name]).abs().max().item()  # ~1e-2 after 4 AdamW steps at lr 3e-3
        # Adam turns summation-order noise in small gradients into small weight differences: 1% of the movement.
        assert (exported.state_dict()[name] - tensor).abs().max().item() <= 0.01 * moved + 1e-7, name
