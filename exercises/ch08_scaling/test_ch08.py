"""Frozen tests for chapter 8: your paper arithmetic against the models the library builds."""

import pytest

from mosslite.config import PRESETS, get_config
from mosslite.model import build_model
from mosslite.scaling import plan, training_flops_per_token

VARIANTS = {
    **{name: PRESETS[name] for name in ("toy", "small", "gpt2-124m", "moss-16b")},
    "llama-like": get_config("tiny", norm="rmsnorm", mlp="swiglu", rotary_style="half", rotary_dim=None,
                             n_query_groups=2, mlp_bias=False, lm_head_bias=False, n_inner=344),
    "biased-attention": get_config("toy", attn_bias=True, attn_out_bias=True),
}


@pytest.mark.parametrize("name", VARIANTS)
def test_count_parameters(impl, name):
    config = VARIANTS[name]
    assert impl.count_parameters(config) == build_model(config, device="meta").num_parameters()


def test_moss_16b_by_hand(impl):
    assert impl.count_parameters(PRESETS["moss-16b"]) == 16_717_980_160


@pytest.mark.parametrize("gpus, sharded", [(1, False), (8, False), (8, True), (32, True)])
def test_training_state(impl, gpus, sharded):
    config = PRESETS["moss-16b"]
    p = plan(config, gpus=gpus, strategy="fsdp" if sharded else "ddp", precision="bf16-mixed")
    expected = p.weights_gb + p.gradients_gb + p.optimizer_gb
    assert impl.training_state_gb(16_717_980_160, gpus, sharded) == pytest.approx(expected)


@pytest.mark.parametrize("name", VARIANTS)
def test_training_flops(impl, name):
    config = VARIANTS[name]
    assert impl.training_flops_per_token(config, 256) == pytest.approx(training_flops_per_token(config, 256))
