"""Prepacked (oneDNN) linear layers: the same outputs as nn.Linear, for mosslite and transformers models alike."""

import copy

import pytest
import torch
from test_interop import one_thread, tiny_hf  # noqa: F401 (one_thread: an autouse fixture, found by name)
from torch import nn

from mosslite.config import get_config
from mosslite.generate import generate
from mosslite.model import build_model
from mosslite.prepack import PrepackedLinear, prepack_available, prepack_linears

pytestmark = pytest.mark.skipif(not prepack_available(), reason="this PyTorch build has no oneDNN kernels")


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(1, 64), (5, 64), (2, 7, 64)])
def test_prepacked_linear_matches_nn_linear(bias, shape):
    torch.manual_seed(0)
    linear = nn.Linear(64, 96, bias=bias)
    x = torch.randn(*shape)
    with torch.no_grad():
        torch.testing.assert_close(PrepackedLinear(linear)(x), linear(x), atol=1e-5, rtol=1e-5)


def test_prepacked_mosslite_model_gives_the_same_logits_and_greedy_tokens():
    torch.manual_seed(0)
    model = build_model(get_config("toy")).eval()
    packed = copy.deepcopy(model)
    names = prepack_linears(packed, skip=("lm_head",))
    assert "lm_head" not in names and len(names) == 4 * model.config.n_layer
    assert isinstance(packed.blocks[0].attn.qkv, PrepackedLinear) and isinstance(model.blocks[0].attn.qkv, nn.Linear)
    x = torch.randint(0, 512, (3, 10))
    with torch.no_grad():
        torch.testing.assert_close(packed(x), model(x), atol=1e-5, rtol=0)
    prompts = [[5, 17, 33, 2], [61, 3]]
    assert generate(packed, prompts, 12) == generate(model, prompts, 12)


def test_prepacking_a_transformers_model_keeps_its_logits():
    hf = tiny_hf("codegen")
    packed = copy.deepcopy(hf)
    prepack_linears(packed)
    ids = torch.randint(0, 64, (2, 9))
    with torch.no_grad():
        torch.testing.assert_close(packed(ids).logits, hf(ids).logits, atol=1e-5, rtol=0)


def test_prepacking_refuses_a_non_cpu_or_fp64_layer():
    with pytest.raises(ValueError, match="fp32 or bf16 CPU layer"):
        PrepackedLinear(nn.Linear(4, 4).double())
