"""The planner against measurement: PyTorch's FLOP counter, autograd's saved tensors, the optimizer's real state."""

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from mosslite.cli import main
from mosslite.config import get_config
from mosslite.model import build_model, lm_loss
from mosslite.scaling import activation_elements_per_token, plan, training_flops_per_token

FAMILIES = {
    "moss": {},
    "gpt2": dict(position="learned", parallel_residual=False, attn_bias=True, attn_out_bias=True, tie_embeddings=True,
                 lm_head_bias=False),
    "llama": dict(norm="rmsnorm", mlp="swiglu", rotary_style="half", rotary_dim=None, n_query_groups=2,
                  mlp_bias=False, lm_head_bias=False),
}


@pytest.mark.parametrize("preset", ["toy", "tiny"])
@pytest.mark.parametrize("family", FAMILIES)
def test_flops_match_pytorch_flop_counter(preset, family):
    config = get_config(preset, **FAMILIES[family])
    T = 64
    model = build_model(config)
    x = torch.randint(0, config.vocab_size, (2, T + 1))
    # The math backend spells attention out as matmuls, which the counter sees; fused kernels it may not.
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        lm_loss(model(x[:, :-1]), x[:, 1:]).backward()
    predicted = training_flops_per_token(config, T) * 2 * T
    assert abs(predicted / counter.get_total_flops() - 1) < 0.01


def saved_activation_elements(model, x):
    """Numbers in the tensors autograd saves for backward (unique storages, parameters excluded)."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages = {}

    def pack(t):
        if t.untyped_storage().data_ptr() not in params:
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes() // t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = lm_loss(model(x[:, :-1]), x[:, 1:])
    return sum(storages.values()), loss


@pytest.mark.parametrize("family", FAMILIES)
def test_activation_and_state_memory_match_measurement(family):
    config = get_config("small", n_layer=3, **FAMILIES[family])
    B, T = 2, 128
    model = build_model(config)
    x = torch.randint(0, config.vocab_size, (B, T + 1))
    measured_act, loss = saved_activation_elements(model, x)
    p = plan(config, strategy="single", precision="32-true", seq_len=T, micro_batch=B)
    assert abs(p.activations_gb * 1e9 / 4 / measured_act - 1) < 0.15

    optimizer = torch.optim.AdamW(model.parameters())
    loss.backward()
    optimizer.step()
    tensors = {id(t): t for t in model.parameters()}
    tensors |= {id(t.grad): t.grad for t in model.parameters()}
    tensors |= {id(v): v for s in optimizer.state.values() for v in s.values() if v.dim() > 0}
    measured_states = sum(t.numel() * t.element_size() for t in tensors.values())
    planned_states = p.states_gb * 1e9
    assert abs(planned_states / measured_states - 1) < 0.01


def test_moss_16b_plan_matches_the_published_arithmetic():
    config = get_config("moss-16b")
    single = plan(config, strategy="single", precision="bf16-mixed")
    states = single.weights_gb + single.gradients_gb + single.optimizer_gb
    assert round(states) == 267  # 16 bytes × 16.72B parameters
    sharded = plan(config, gpus=8, strategy="fsdp", precision="bf16-mixed", checkpointing=True)
    assert round(sharded.weights_gb + sharded.gradients_gb + sharded.optimizer_gb, 1) == 33.4
    assert sharded.activations_gb < plan(config, gpus=8, strategy="fsdp").activations_gb / 8  # 1.8 vs 15.0 GB
    # 6 × (15.40B block weights + 0.66B head) + 12·L·H·D·T attention = 101.5 GFLOP at T=2048 (counting the
    # embedding table as if it multiplied, 6 × all 16.72B, would give 105.4).
    assert abs(sharded.flops_per_token / 1e9 - 101.5) < 0.05
    assert round(sharded.buffers_gb, 1) == 3.6  # two gathered bf16 blocks and one fp32 block gradient
    assert sharded.max_micro_batch(80) >= 1
    assert plan(config, gpus=8, strategy="ddp").max_micro_batch(80) == 0  # unsharded states alone exceed 80 GB


def test_checkpointing_keeps_one_input_per_block():
    for name, ratio in (("small", 0.5), ("moss-16b", 0.15)):  # the head's logits do not shrink, so small gains less
        config = get_config(name)
        full, ckpt = activation_elements_per_token(config, False), activation_elements_per_token(config, True)
        assert ckpt < ratio * full


def test_bad_plan_arguments():
    with pytest.raises(ValueError, match="unknown strategy"):
        plan(get_config("toy"), strategy="zero3")
    with pytest.raises(ValueError, match="one device"):
        plan(get_config("toy"), gpus=2, strategy="single")


def test_plan_cli(capsys):
    assert main(["plan", "--preset", "moss-16b", "--gpus", "8", "--gpu-memory", "80", "--strategy", "fsdp",
                 "--checkpointing"]) == 0
    out = capsys.readouterr().out
    assert "16,717,980,160 parameters" in out and "fits in 80 GB" in out and "days" in out


@pytest.mark.parametrize("family", ["moss", "llama"])
def test_lora_plan_matches_measurement(family):
    """LoRA: every weight held, gradients and Adam states for the adapters only, activations as before plus each
    adapter's r-wide intermediate."""
    from mosslite.lora import inject_lora, trainable_parameters

    config = get_config("small", n_layer=3, **FAMILIES[family])
    B, T, rank = 2, 128, 8
    model = build_model(config)
    inject_lora(model, rank=rank)
    x = torch.randint(0, config.vocab_size, (B, T + 1))
    measured_act, loss = saved_activation_elements(model, x)
    p = plan(config, strategy="single", precision="32-true", seq_len=T, micro_batch=B, lora_rank=rank)
    assert p.trainable == trainable_parameters(model) < p.parameters / 50
    assert abs(p.activations_gb * 1e9 / 4 / measured_act - 1) < 0.15

    optimizer = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad])
    loss.backward()
    optimizer.step()
    tensors = {id(t): t for t in model.parameters()}
    tensors |= {id(t.grad): t.grad for t in model.parameters() if t.grad is not None}
    tensors |= {id(v): v for s in optimizer.state.values() for v in s.values() if v.dim() > 0}
    measured_states = sum(t.numel() * t.element_size() for t in tensors.values())
    assert abs(p.states_gb * 1e9 / measured_states - 1) < 0.01
