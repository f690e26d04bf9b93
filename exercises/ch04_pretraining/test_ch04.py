"""Frozen tests for chapter 4: the learning-rate schedule, the parameter groups and the training step."""

import copy
import math

import pytest
import torch

from mosslite.config import get_config
from mosslite.model import build_model, lm_loss


# ------------------------------------------------------------------------------------------------------ schedule
def test_warmup_rises_linearly_to_the_peak(impl):
    lrs = [impl.cosine_lr(s, 1e-3, 1e-4, 10, 100) for s in range(10)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(b - a == pytest.approx(1e-4) for a, b in zip(lrs, lrs[1:]))


def test_cosine_decays_to_min_lr_and_stays(impl):
    assert impl.cosine_lr(10, 1e-3, 1e-4, 10, 100) == pytest.approx(1e-3)
    assert impl.cosine_lr(55, 1e-3, 1e-4, 10, 100) == pytest.approx(5.5e-4)  # halfway: the mean of peak and floor
    assert impl.cosine_lr(100, 1e-3, 1e-4, 10, 100) == pytest.approx(1e-4)
    assert impl.cosine_lr(500, 1e-3, 1e-4, 10, 100) == pytest.approx(1e-4)
    decay = [impl.cosine_lr(s, 1e-3, 1e-4, 10, 100) for s in range(10, 101)]
    assert all(b <= a for a, b in zip(decay, decay[1:]))


def test_no_warmup_starts_at_the_peak(impl):
    assert impl.cosine_lr(0, 3e-4, 0.0, 0, 10) == pytest.approx(3e-4)
    assert impl.cosine_lr(5, 3e-4, 0.0, 0, 10) == pytest.approx(3e-4 * 0.5 * (1 + math.cos(math.pi / 2)))


# ------------------------------------------------------------------------------------------------ parameter groups
def _names(model, params):
    ids = {id(p) for p in params}
    return {n for n, p in model.named_parameters() if id(p) in ids}


@pytest.mark.parametrize("preset", ["toy", "gpt2-124m"])
def test_decay_only_on_matmul_weights(impl, preset):
    config = get_config(preset) if preset == "toy" else get_config(preset, n_layer=1, n_embd=32, n_head=2,
                                                                     vocab_size=64, block_size=16)
    model = build_model(config)
    decay, no_decay = impl.param_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    decayed, kept = _names(model, decay["params"]), _names(model, no_decay["params"])
    assert not decayed & kept
    assert decayed | kept == {n for n, _ in model.named_parameters()}
    assert "blocks.0.norm_1.weight" in kept and "norm_f.bias" in kept  # norms
    assert "tok_emb.weight" in kept  # embeddings (and the tied head with them, for GPT-2)
    assert "blocks.0.mlp.fc.bias" in kept  # biases
    assert "blocks.0.attn.qkv.weight" in decayed and "blocks.0.mlp.proj.weight" in decayed
    if preset == "gpt2-124m":
        assert "pos_emb.weight" in kept
    else:
        assert "lm_head.weight" in decayed and "lm_head.bias" in kept
    count = sum(p.numel() for g in (decay, no_decay) for p in g["params"])
    assert count == model.num_parameters()  # every parameter exactly once


# --------------------------------------------------------------------------------------------------- training step
def test_accumulated_step_equals_one_big_step(impl):
    torch.manual_seed(0)
    model = build_model(get_config("toy"))
    twin = copy.deepcopy(model)
    x, y = torch.randint(0, 512, (2, 8, 16))
    # SGD, whose update is linear in the gradient (Adam would blow float noise in near-zero gradients up to lr)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    opt_twin = torch.optim.SGD(twin.parameters(), lr=0.5)

    loss = impl.training_step(model, opt, [(x[:4], y[:4]), (x[4:], y[4:])], grad_clip=1e9)

    full = lm_loss(twin(x), y)
    full.backward()
    opt_twin.step()
    assert loss == pytest.approx(full.item(), rel=1e-5)
    for p, q in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=1e-5)
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())  # ready for the next step


def test_gradients_are_clipped(impl):
    torch.manual_seed(0)
    model = build_model(get_config("toy"))
    before = [p.detach().clone() for p in model.parameters()]
    x, y = torch.randint(0, 512, (2, 4, 16))
    impl.training_step(model, torch.optim.SGD(model.parameters(), lr=1.0), [(x, y)], grad_clip=0.01)
    # With plain SGD at lr 1 the update is minus the (clipped) gradient, so its norm is the clip value.
    update = torch.cat([(p.detach() - b).flatten() for p, b in zip(model.parameters(), before)])
    assert update.norm().item() == pytest.approx(0.01, rel=1e-3)
