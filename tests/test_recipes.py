"""Every shipped pretraining recipe loads, has the shape its cluster needs, and fits the GPU memory it names according
to the planner (tests/test_consolidate.py runs the MOSS-16B recipe itself at toy size on 2 CPU processes)."""

from pathlib import Path

import pytest
import torch

from mosslite.cli import main
from mosslite.config import get_config
from mosslite.train import PretrainModule
from mosslite.train.config import load_config, replace
from mosslite.train.recipes import format_run_plan, loss_peak_gb, peak_gb, plan_run

CONFIGS = sorted((Path(__file__).parent.parent / "configs" / "pretrain").glob("*.yaml"))
# recipe -> (GPUs, parameters): one GPU for GPT-2 small, one node for ~1B and ~7B, four nodes for MOSS itself
GPU_RECIPES = {"gpt2-124m": (1, 124_439_808), "moss-1b": (8, 1.01e9), "moss-7b": (8, 7.32e9),
               "moss-16b": (32, 16_717_980_160)}


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_config_loads(path):
    config = load_config(path)
    assert config.name == path.stem


@pytest.mark.parametrize("name", GPU_RECIPES)
def test_gpu_recipe_fits_its_gpus(name):
    config = load_config(Path(__file__).parent.parent / "configs" / "pretrain" / f"{name}.yaml")
    gpus, parameters = GPU_RECIPES[name]
    plan = plan_run(config)  # the model is built on the meta device: exact count, no memory
    assert plan.gpus == config.devices * config.num_nodes == gpus
    assert plan.parameters == pytest.approx(parameters, rel=0.01)
    assert config.accelerator == "gpu" and config.precision == "bf16-mixed" and config.device_memory_gb
    assert peak_gb(config) <= config.device_memory_gb
    if gpus > 1:  # sharded, and never materialised whole
        assert config.strategy == "fsdp" and config.meta_init
        assert plan.states_gb == pytest.approx(16 * plan.parameters / gpus / 1e9)
    if plan.parameters > 5e9:  # the big ones cannot afford a full set of activations per sequence
        assert config.activation_checkpointing


def test_moss_16b_recipe_is_moss_at_its_own_context():
    config = load_config(Path(__file__).parent.parent / "configs" / "pretrain" / "moss-16b.yaml")
    assert config.context == 2048 == config.model_config().block_size
    assert config.model_config() == get_config("moss-16b")
    tokens_per_step = config.batch_size * config.context * config.grad_accum * config.devices * config.num_nodes
    assert tokens_per_step == 2**21  # 2M tokens, GPT-3 13B's batch
    too_big = replace(config, batch_size=64)
    assert peak_gb(too_big) > 80 and "does NOT fit in 80 GB" in format_run_plan(too_big)
    assert loss_peak_gb(config) == pytest.approx(12 * 107008 * 2048 * 4 / 1e9)


def test_plan_cli_reads_a_recipe(capsys):
    assert main(["plan", "--config", "configs/pretrain/moss-7b.yaml"]) == 0
    out = capsys.readouterr().out
    assert "moss-7b: 8 device(s)" in out and "activation checkpointing on" in out and "fits in 80 GB" in out
    assert main(["plan", "--config", "configs/pretrain/moss-7b.yaml", "--gpu-memory", "24"]) == 0
    assert "does NOT fit in 24 GB" in capsys.readouterr().out


@pytest.mark.parametrize("tied", [False, True], ids=["moss", "gpt2-tied"])
def test_meta_init_materialises_a_real_initialisation(tied):
    """One process (the FSDP2 path is in tests/test_consolidate.py): shapes on the meta device, then memory, then the
    model's own init; a tied head stays tied."""
    overrides = dict(position="learned", parallel_residual=False, tie_embeddings=True, lm_head_bias=False) if tied else {}
    model_config = get_config("tiny", **overrides)
    config = load_config(None, {"model": "tiny", "meta_init": True, "model_args": overrides})
    module = PretrainModule(model_config, config)
    module.configure_model()
    model = module.model
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert (model.lm_head.weight is model.tok_emb.weight) == tied
    assert model.tok_emb.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert torch.equal(model.blocks[0].norm_1.weight, torch.ones(model_config.n_embd))
    proj_std = 0.02 / (2 * model_config.n_layer) ** 0.5  # residual projections shrink with depth
    assert model.blocks[0].mlp.proj.weight.std().item() == pytest.approx(proj_std, rel=0.05)
