"""Pretraining in one process: parameter groups, the schedule, config errors, exact resume, divergence, atomic
checkpoints, and what a finished run leaves behind (multi-process runs: test_train_distributed.py)."""

import csv
import math

import lightning as L
import pytest
import torch
from train_support import Bytes, pack_world

from mosslite.checkpoint import load_checkpoint
from mosslite.cli import main as cli_main
from mosslite.config import get_config
from mosslite.model import build_model
from mosslite.train import (
    Checkpointer,
    DivergenceError,
    History,
    PretrainModule,
    SampleText,
    config_from_dict,
    cosine_lr,
    load_config,
    param_groups,
    pretrain,
)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return pack_world(tmp_path_factory.mktemp("world"))


def toy(data, out, **changes):
    """A toy run of 12 steps small enough to take a couple of seconds."""
    return config_from_dict({"model": "toy", "data_dir": str(data), "out_dir": str(out), "max_steps": 12,
                             "warmup_steps": 3, "batch_size": 4, "block_size": 32, "val_every": 6, "val_batches": 2,
                             "ckpt_every": 4, "log_every": 1, "peak_flops": 1e11, "progress_bar": False, **changes})


# ------------------------------------------------------------------------------------------------ parameter groups
@pytest.mark.parametrize("family", ["moss", "gpt2", "llama"])
def test_no_weight_decay_on_norms_biases_and_embeddings(family):
    shapes = dict(vocab_size=64, block_size=16, n_layer=2, n_head=2, n_embd=16)
    config = {"moss": get_config("toy", **shapes),
              "gpt2": get_config("gpt2-124m", **shapes),
              "llama": get_config("toy", norm="rmsnorm", mlp="swiglu", mlp_bias=False, lm_head_bias=False,
                                  rotary_style="half", parallel_residual=False, **shapes)}[family]
    model = build_model(config)
    decay, no_decay = param_groups(model, weight_decay=0.1)
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (0.1, 0.0)
    decayed, kept = set(decay["param_names"]), set(no_decay["param_names"])
    for name in kept:
        assert name.endswith("bias") or "norm" in name or "emb" in name, name
    for name in decayed:
        assert name.endswith("weight") and "norm" not in name and "emb" not in name, name
    assert {"tok_emb.weight", "blocks.0.norm_1.weight", "blocks.1.norm_1.weight", "norm_f.weight"} <= kept
    assert {"blocks.0.attn.qkv.weight", "blocks.0.mlp.proj.weight"} <= decayed
    if family == "gpt2":  # learned positions, biases everywhere, the head tied to the (undecayed) embedding
        assert {"pos_emb.weight", "blocks.0.norm_2.weight", "blocks.0.attn.qkv.bias"} <= kept
        assert "lm_head.weight" not in decayed
    elif family == "moss":  # MOSS's own script decayed these LayerNorms (it excluded "LayerNorm.weight" only)
        assert {"blocks.0.norm_1.bias", "lm_head.bias"} <= kept and "lm_head.weight" in decayed
    assert sum(p.numel() for g in (decay, no_decay) for p in g["params"]) == model.num_parameters()


# ----------------------------------------------------------------------------------------------------- schedule
def test_lr_schedule_values():
    assert [cosine_lr(s, 1e-3, 1e-4, 4, 20) for s in range(4)] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3])
    assert cosine_lr(12, 1e-3, 1e-4, 4, 20) == pytest.approx(5.5e-4)  # halfway through the decay
    assert cosine_lr(20, 1e-3, 1e-4, 4, 20) == pytest.approx(1e-4)
    assert cosine_lr(99, 1e-3, 1e-4, 4, 20) == pytest.approx(1e-4)


def test_the_optimizer_follows_the_schedule(data, tmp_path):
    config = toy(data, tmp_path, max_steps=20, warmup_steps=4, lr=1e-3, min_lr=1e-4)
    module = PretrainModule(get_config("toy"), config)
    module.configure_model()
    setup = module.configure_optimizers()
    optimizer, schedule = setup["optimizer"], setup["lr_scheduler"]["scheduler"]
    seen = []
    for _ in range(22):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert seen == pytest.approx([cosine_lr(s, 1e-3, 1e-4, 4, 20) for s in range(22)])
    assert all(g["lr"] == seen[-1] for g in optimizer.param_groups)  # the no-decay group follows it too


# ---------------------------------------------------------------------------------------------------- config errors
@pytest.mark.parametrize("overrides, message", [
    (["--lr_warmup", "10"], "unknown key 'lr_warmup'"),
    (["--leraning_rate", "1"], "unknown key 'leraning_rate'"),
    (["--lr", "fast"], "lr='fast' should be of type float"),
    (["--batch_size", "1.5"], "batch_size=1.5 should be of type int"),
    (["--strategy", "deepspeed"], "strategy='deepspeed' is not one of"),
    (["--model_args.n_layers", "4"], "unknown key(s) ['model_args.n_layers']"),
    (["--model_args.n_layer", "four"], "model_args.n_layer='four' should be of type int"),
    (["--model", "huge"], "model='huge' is not a preset"),
    (["--warmup_steps", "2000"], "warmup_steps=2000 must be below max_steps"),
])
def test_config_errors_name_the_key(overrides, message):
    with pytest.raises(ValueError) as err:
        load_config(None, overrides)
    assert message in str(err.value)


def test_unknown_key_suggests_the_close_one():
    with pytest.raises(ValueError, match="did you mean 'max_steps'"):
        load_config(None, {"max_step": 10})


def test_yaml_numbers_without_a_dot_are_numbers(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("lr: 3e-4\nmin_lr: 1e-5\nmodel_args:\n  n_layer: 3\n")  # YAML 1.1 reads 3e-4 as a string
    config = load_config(path, ["--model_args.n_embd", "32", "--max_steps=500"])
    assert (config.lr, config.min_lr, config.max_steps) == (3e-4, 1e-5, 500)
    assert config.model_args == {"n_layer": 3, "n_embd": 32}


def test_vocab_mismatch_fails_before_anything_is_written(data, tmp_path):
    config = toy(data, tmp_path / "run", model_args={"vocab_size": 512})
    with pytest.raises(ValueError, match=r"model_args.vocab_size=512 differs from the tokenizer's vocabulary of 257"):
        pretrain(config)
    assert not (tmp_path / "run").exists()


def test_cli_reports_config_errors_without_a_traceback(data, tmp_path, capsys):
    path = tmp_path / "run.yaml"
    path.write_text(f"data_dir: {data}\nout_dir: {tmp_path / 'run'}\nmax_steps: 5\nwarmup_steps: 1\n")
    assert cli_main(["pretrain", "--config", str(path), "--batch_sise", "4"]) == 2
    assert "unknown key 'batch_sise'; did you mean 'batch_size'?" in capsys.readouterr().err
    assert cli_main(["pretrain", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "no pretraining config at" in capsys.readouterr().err


def test_shipped_configs_are_valid():
    from pathlib import Path

    paths = sorted((Path(__file__).parent.parent / "configs" / "pretrain").glob("*.yaml"))
    assert {p.stem for p in paths} >= {"toy", "tiny", "small", "gpt2-124m", "moss-16b"}
    for path in paths:
        config = load_config(path)
        assert config.model_config().name == config.model, path


# ------------------------------------------------------------------------------------------------ resume, failures
class Crash(L.Callback):
    """Kill the run (as a power cut would) when it reaches `step`."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            raise KeyError("simulated crash")  # an exception Lightning does not swallow


def test_resume_reproduces_the_uninterrupted_losses(data, tmp_path):
    whole = pretrain(toy(data, tmp_path / "whole", grad_accum=2), quiet=True).history
    config = toy(data, tmp_path / "cut", grad_accum=2)
    with pytest.raises(KeyError, match="simulated crash"):
        pretrain(config, callbacks=[Crash(step=7)], quiet=True)  # the last checkpoint is step 4
    assert Checkpointer.latest(tmp_path / "cut" / "checkpoints").name == "step-0000004.ckpt"
    resumed = pretrain(config, resume=True, quiet=True).history
    assert [s for s, _ in resumed.train] == list(range(5, 13))
    assert resumed.train == whole.train[4:]  # bit for bit: same data, same RNG, same optimizer state
    assert resumed.val == whole.val and resumed.lr == whole.lr[4:]  # steps 6 and 12, both after step 4


def test_fresh_run_refuses_an_out_dir_with_checkpoints(data, tmp_path):
    pretrain(toy(data, tmp_path, max_steps=4), quiet=True)
    with pytest.raises(ValueError, match="pass --resume"):
        pretrain(toy(data, tmp_path, max_steps=4), quiet=True)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        pretrain(toy(data, tmp_path / "other"), resume=True, quiet=True)


class Poison(L.Callback):
    """Make the loss infinite from `step` on, as an exploding run would."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            with torch.no_grad():
                pl_module.model.lm_head.bias.fill_(float("inf"))


def test_divergence_stops_the_run_naming_step_and_checkpoint(data, tmp_path):
    with pytest.raises(DivergenceError) as err:
        pretrain(toy(data, tmp_path), callbacks=[Poison(step=9)], quiet=True)
    message = str(err.value)
    assert "the training loss became nan at step 10" in message
    assert f"the last good checkpoint is {tmp_path / 'checkpoints' / 'step-0000008.ckpt'}" in message
    assert Checkpointer.latest(tmp_path / "checkpoints").name == "step-0000008.ckpt"  # nothing saved after


def test_a_crash_while_saving_keeps_the_last_checkpoint(data, tmp_path, monkeypatch):
    from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

    real_save = TorchCheckpointIO.save_checkpoint

    def save_then_die(self, checkpoint, path, storage_options=None):
        if checkpoint["global_step"] == 8:
            open(path, "wb").write(b"half a checkpoint")  # the disk fills up mid-write
            raise OSError("No space left on device")
        return real_save(self, checkpoint, path, storage_options)

    monkeypatch.setattr(TorchCheckpointIO, "save_checkpoint", save_then_die)
    with pytest.raises(OSError, match="No space left"):
        pretrain(toy(data, tmp_path), quiet=True)
    monkeypatch.setattr(TorchCheckpointIO, "save_checkpoint", real_save)
    folder = tmp_path / "checkpoints"
    assert [p.name for p in folder.glob("step-*")] == ["step-0000004.ckpt"]  # the half-written one never got a name
    assert torch.load(folder / "step-0000004.ckpt", weights_only=False)["global_step"] == 4
    resumed = pretrain(toy(data, tmp_path), resume=True, quiet=True)  # and the run goes on from it
    assert resumed.history.train[0][0] == 5 and not list(folder.glob(".*"))


# --------------------------------------------------------------------------------------------- what a run leaves
def test_a_run_learns_logs_samples_and_exports(data, tmp_path):
    history = History()  # a second, user-held history fed by a user callback
    config = toy(data, tmp_path, max_steps=40, val_every=20, lr=3e-3, peak_flops=None)
    result = pretrain(config, callbacks=[SampleText(history, Bytes(), "Sute ", every=20, new_tokens=8)], quiet=True)
    h = result.history
    assert len(h.train) == 40 and [s for s, _ in h.val] == [20, 40]
    assert h.val[-1][1] < math.log(257) - 1.0  # well below a uniform guess over the 257 byte ids
    assert all(t > 0 for _, t in h.tokens_per_s) and 0 < h.mfu[-1][1] < 1  # against a measured CPU peak
    assert [s for s, _ in history.samples] == [20, 40] and history.samples[-1][1].startswith("Sute ")

    rows = list(csv.DictReader(open(tmp_path / "csv" / "metrics.csv")))
    logged = {k for row in rows for k, v in row.items() if v}
    assert {"train/loss", "train/lr", "val/loss", "perf/tokens_per_s", "perf/mfu"} <= logged
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))

    exported = load_checkpoint(result.final_dir).eval()
    model = result.module.model.eval()
    x = torch.randint(0, 257, (2, 16))
    with torch.no_grad():
        torch.testing.assert_close(exported(x), model(x), rtol=0, atol=0)
    assert exported.config.vocab_size == 257  # the vocabulary followed the data's tokenizer
