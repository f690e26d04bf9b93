"""The MOSS-16B recipe at toy size on 2 CPU processes: FSDP2 with meta-device init, activation checkpointing and
bf16-mixed; sharded save -> resume -> consolidate -> Hugging Face export -> reload in mosslite and in transformers,
all with the same logits. Broken shard folders fail with errors that name the missing piece, and a checkpoint loads
back into a sharded model with each rank reading only its own rows."""

import csv
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from train_support import pack_world
from transformers import AutoModelForCausalLM

from mosslite.checkpoint import load_checkpoint
from mosslite.cli import main
from mosslite.config import ModelConfig
from mosslite.model import build_model
from mosslite.train.consolidate import consolidate, load_into_shards, read_training_checkpoint

pytestmark = pytest.mark.slow

RECIPE = Path(__file__).parent.parent / "configs" / "pretrain" / "moss-16b.yaml"
# Everything that makes the recipe big is overridden; strategy, precision, checkpointing and meta init are kept.
TOY = {"model": "toy", "accelerator": "cpu", "devices": 2, "num_nodes": 1, "batch_size": 4, "grad_accum": 1,
       "block_size": 32, "max_steps": 6, "warmup_steps": 2, "ckpt_every": 3, "val_every": 3, "val_batches": 2,
       "log_every": 1, "compile": "false", "sample_every": 0, "peak_flops": 1e11, "progress_bar": "false",
       "tokenizer_dir": "null"}


def launch(data: Path, out: Path, *extra: str) -> dict[int, float]:
    """`mosslite pretrain` with the recipe on 2 CPU processes; the per-step losses from its CSV log."""
    overrides = [arg for key, value in {**TOY, "data_dir": data, "out_dir": out}.items()
                 for arg in (f"--{key}", str(value))]
    cmd = [sys.executable, "-m", "mosslite.cli", "pretrain", "--config", str(RECIPE), *overrides, *extra]
    done = subprocess.run(cmd, env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    losses = {}
    for row in csv.DictReader(open(out / "csv" / "metrics.csv")):
        if row.get("train/loss"):
            losses[int(row["step"])] = float(row["train/loss"])
    return losses


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished run whose last sharded checkpoint was deleted and rewritten by resuming from the one before."""
    data = pack_world(tmp_path_factory.mktemp("world"))
    out = tmp_path_factory.mktemp("run") / "moss16b-toy"
    first = launch(data, out)
    shutil.copytree(out / "checkpoints" / "step-0000003.ckpt", out.parent / "step-3-copy")
    shutil.rmtree(out / "checkpoints" / "step-0000006.ckpt")
    resumed = launch(data, out, "--resume")
    return out, first, resumed


def test_recipe_resumes_from_shards_exactly(run):
    out, first, resumed = run
    assert sorted(first) == [1, 2, 3, 4, 5, 6]
    assert first[1] == pytest.approx(torch.log(torch.tensor(257.0)).item(), abs=0.3)  # meta init, then a real init
    assert [resumed[s] for s in (4, 5, 6)] == pytest.approx([first[s] for s in (4, 5, 6)], rel=1e-6)
    shards = {p.name for p in (out / "checkpoints" / "step-0000006.ckpt").iterdir()}
    assert {"__0_0.distcp", "__1_0.distcp", ".metadata", "meta.pt"} <= shards


@torch.no_grad()
def test_consolidated_checkpoint_and_hf_export_give_the_same_logits(run, tmp_path):
    out, _, _ = run
    ckpt = consolidate(out, tmp_path / "mosslite", hf_dir=tmp_path / "hf")  # a run folder: its newest checkpoint
    assert ckpt.sharded and ckpt.step == 6 and ckpt.path.name == "step-0000006.ckpt"
    gathered = load_file(out / "final" / "model.safetensors")  # what the resumed run gathered from its shards
    written = load_file(tmp_path / "mosslite" / "model.safetensors")
    assert gathered.keys() == written.keys() and all(torch.equal(gathered[k], written[k]) for k in gathered)

    x = torch.randint(0, 257, (2, 24))
    ours = load_checkpoint(tmp_path / "mosslite").eval()
    final = load_checkpoint(out / "final").eval()
    hf = AutoModelForCausalLM.from_pretrained(tmp_path / "hf", attn_implementation="eager").eval()
    assert type(hf).__name__ == "CodeGenForCausalLM"
    logits = ours(x)
    assert torch.equal(logits, final(x))
    assert (hf(x).logits - logits).abs().max() <= 1e-4


def test_consolidate_casts_and_reads_single_file_checkpoints(run, tmp_path):
    out, _, _ = run
    half = read_training_checkpoint(out / "checkpoints" / "step-0000006.ckpt", dtype=torch.bfloat16)
    assert {t.dtype for t in half.state.values()} == {torch.bfloat16}
    full = read_training_checkpoint(out, dtype=None)
    assert all(torch.equal(full.state[k].bfloat16(), half.state[k]) for k in full.state)
    # A one-device checkpoint is a single .ckpt file: the same command reads it.
    single = tmp_path / "single.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in full.state.items()}, "global_step": 6,
                "hyper_parameters": {"model_config": full.config.to_dict()}}, single)
    assert main(["consolidate", str(single), str(tmp_path / "from-file")]) == 0
    assert torch.equal(load_file(tmp_path / "from-file" / "model.safetensors")["lm_head.weight"],
                       full.state["lm_head.weight"])


def test_broken_shard_folders_name_the_problem(run, tmp_path, capsys):
    out, _, _ = run
    good = out.parent / "step-3-copy"

    def broken(name: str, damage) -> Path:
        folder = tmp_path / name
        shutil.copytree(good, folder)
        damage(folder)
        return folder

    cases = [
        (broken("no-rank-1", lambda f: (f / "__1_0.distcp").unlink()), "1 of 2 shard files are missing"),
        (broken("cut", lambda f: os.truncate(f / "__0_0.distcp", 1000)), "truncated: __0_0.distcp"),
        (broken("no-index", lambda f: (f / ".metadata").unlink()), "no .metadata index"),
        (broken("no-meta", lambda f: (f / "meta.pt").unlink()), "no meta.pt"),
        (tmp_path / "nowhere", "no checkpoint at"),
        (tmp_path, "not a training checkpoint"),
    ]
    for path, message in cases:
        assert main(["consolidate", str(path), str(tmp_path / "out")]) == 2
        assert message in capsys.readouterr().err, path
    assert not (tmp_path / "out").exists()


def _shard_and_load(rank: int, world: int, port: int, checkpoint: Path, out: Path) -> None:
    """One process of a gloo group: shard a meta-device model, give it memory, fill it from `checkpoint`."""
    import torch.distributed as dist
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
    from torch.distributed.device_mesh import init_device_mesh

    from mosslite.train.module import shard

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        model = build_model(ModelConfig.load(checkpoint / "config.json"), device="meta")
        shard(model, init_device_mesh("cpu", (world,)))
        model.to_empty(device="cpu")
        load_into_shards(model, checkpoint)
        local_rows = model.tok_emb.weight.to_local().shape[0]
        full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        if rank == 0:
            torch.save({"state": full, "local_rows": local_rows}, out)
    finally:
        dist.destroy_process_group()


def test_checkpoint_loads_into_a_sharded_model_rank_by_rank(run, tmp_path):
    out, _, _ = run
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torch.multiprocessing.spawn(_shard_and_load, args=(2, port, out / "final", tmp_path / "full.pt"), nprocs=2)
    got = torch.load(tmp_path / "full.pt")
    assert got["local_rows"] == 129  # 257 embedding rows: rank 0 holds 129, rank 1 the other 128
    expected = load_file(out / "final" / "model.safetensors")
    assert got["state"].keys() == expected.keys()
    assert all(torch.equal(got["state"][k], expected[k]) for k in expected)
