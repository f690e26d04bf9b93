"""Weight-only int8/int4: the fused kernels agree with the reference path, memory shrinks, perplexity holds."""

import math

import pytest
import torch
from torch import nn

from mosslite.config import get_config
from mosslite.model import build_model, lm_loss
from mosslite.quantize import QuantizedLinear, model_bytes, quantize_model


@pytest.mark.parametrize("bits", [8, 4])
def test_kernel_and_reference_paths_agree(bits):
    torch.manual_seed(0)
    linear = nn.Linear(256, 96)
    x = torch.randn(3, 7, 256)
    fast, slow = QuantizedLinear(linear, bits, 128, use_kernel=True), QuantizedLinear(linear, bits, 128, use_kernel=False)
    torch.testing.assert_close(fast.dequantized_weight(), slow.dequantized_weight(), atol=2e-3, rtol=1e-2)
    reference = linear(x)
    for layer in (fast, slow):
        y = layer(x)
        assert y.shape == reference.shape and y.dtype == reference.dtype
        assert (y - reference).norm() / reference.norm() < (0.01 if bits == 8 else 0.1)


def trained_toy():
    """A toy model trained briefly on a repeating pattern, so its perplexity means something."""
    torch.manual_seed(0)
    model = build_model(get_config("toy", n_embd=128, n_head=4))
    pattern = torch.tensor([i * 7 % 97 + (i // 97) % 3 for i in range(4096)]) % 512
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(80):
        starts = torch.randint(0, 4096 - 65, (16,))
        batch = torch.stack([pattern[s : s + 65] for s in starts])
        loss = lm_loss(model(batch[:, :-1]), batch[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    val = torch.stack([pattern[s : s + 65] for s in range(0, 3900, 97)])
    return model.eval(), val


def perplexity(model, val):
    with torch.no_grad():
        return math.exp(lm_loss(model(val[:, :-1]), val[:, 1:]).item())


def test_int8_keeps_perplexity_within_one_percent_and_int4_close():
    model, val = trained_toy()
    base_ppl, base_bytes = perplexity(model, val), model_bytes(model)
    assert base_ppl < 100  # it learned something (uniform would be 512)
    results = {}
    for bits in (8, 4):
        q = build_model(model.config)
        q.load_state_dict(model.state_dict())
        names = quantize_model(q.eval(), bits=bits)
        assert "lm_head" not in names and len(names) == 4 * model.config.n_layer
        results[bits] = perplexity(q, val), model_bytes(q)
    assert results[8][0] / base_ppl - 1 < 0.01
    assert results[4][0] / base_ppl - 1 < 0.10
    assert results[8][1] < base_bytes and results[4][1] < results[8][1]


def test_bad_settings():
    with pytest.raises(ValueError, match="bits must be 8 or 4"):
        QuantizedLinear(nn.Linear(128, 8), bits=3)
    with pytest.raises(ValueError, match="not a multiple of group_size"):
        QuantizedLinear(nn.Linear(100, 8), bits=4)
    model = build_model(get_config("toy"))  # n_embd 64 < 128: int4 groups do not fit, layers stay fp32
    assert quantize_model(model, bits=4) == [n for n, m in model.named_modules() if n.endswith("mlp.proj")]
