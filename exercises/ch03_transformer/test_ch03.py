"""Frozen tests for chapter 3: your attention, rotary and block against SDPA and `mosslite.model`."""

import pytest
import torch
import torch.nn.functional as F

from mosslite.config import get_config
from mosslite.model import Block, apply_rotary, rotary_angles


@pytest.mark.parametrize("shape", [(2, 4, 7, 8), (1, 1, 1, 16), (3, 2, 12, 4)])
def test_causal_attention_equals_sdpa(impl, shape):
    torch.manual_seed(0)
    q, k, v = torch.randn(3, *shape).unbind(0)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(impl.causal_attention(q, k, v), expected, atol=1e-5, rtol=1e-5)


def test_causal_attention_never_reads_the_future(impl):
    torch.manual_seed(1)
    q, k, v = torch.randn(3, 1, 2, 9, 8).unbind(0)
    before = impl.causal_attention(q, k, v)
    k2, v2 = k.clone(), v.clone()
    k2[:, :, 5:] += 10 * torch.randn_like(k2[:, :, 5:])  # change only positions 5..8
    v2[:, :, 5:] += 10 * torch.randn_like(v2[:, :, 5:])
    after = impl.causal_attention(q, k2, v2)
    torch.testing.assert_close(after[:, :, :5], before[:, :, :5])  # positions 0..4 cannot tell
    assert not torch.allclose(after[:, :, 5:], before[:, :, 5:])


@pytest.mark.parametrize("rotary_dim, base", [(8, 10000.0), (16, 10000.0), (4, 500.0)])
def test_rotary_equals_the_library(impl, rotary_dim, base):
    torch.manual_seed(2)
    x = torch.randn(2, 3, 6, 16)
    positions = torch.tensor([[0, 1, 2, 3, 4, 5], [7, 8, 9, 30, 31, 100]])
    expected = apply_rotary(x, *rotary_angles(positions, rotary_dim, base), "interleaved")
    torch.testing.assert_close(impl.rotary(x, positions, rotary_dim, base), expected, atol=1e-5, rtol=1e-5)


def test_rotary_leaves_the_unrotated_dims_and_norms_alone(impl):
    torch.manual_seed(3)
    x = torch.randn(1, 2, 5, 12)
    y = impl.rotary(x, torch.arange(5)[None] * 3, rotary_dim=4)
    torch.testing.assert_close(y[..., 4:], x[..., 4:])
    torch.testing.assert_close(y[..., :4].norm(dim=-1), x[..., :4].norm(dim=-1))  # a rotation keeps lengths


def test_rotary_scores_depend_only_on_the_distance(impl):
    torch.manual_seed(4)
    q, k = torch.randn(2, 1, 1, 1, 8).unbind(0)

    def score(m: int, n: int) -> torch.Tensor:
        return (impl.rotary(q, torch.tensor([[m]]), 8) * impl.rotary(k, torch.tensor([[n]]), 8)).sum()

    torch.testing.assert_close(score(7, 3), score(104, 100), atol=1e-4, rtol=1e-4)


def test_parallel_block_equals_the_library_block(impl):
    torch.manual_seed(5)
    config = get_config("toy")
    block = Block(config).eval()
    with torch.no_grad():  # non-trivial norm and biases, so a wrong wiring cannot hide
        for p in block.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(2, 10, config.n_embd)
    positions = torch.arange(10).expand(2, 10)
    rope = rotary_angles(positions, config.rope_dims, config.rotary_base)
    with torch.no_grad():
        expected = block(x, rope, None, True, None, 0)
        got = impl.parallel_block(x, block.norm_1, lambda h: block.attn(h, rope, None, True, None, 0), block.mlp)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_parallel_block_normalises_once(impl):
    calls = []

    def norm(t: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return 2 * t

    out = impl.parallel_block(torch.ones(3), norm, lambda h: h + 1, lambda h: 10 * h)
    assert calls == [1]
    torch.testing.assert_close(out, torch.full((3,), 1.0 + 3.0 + 20.0))
