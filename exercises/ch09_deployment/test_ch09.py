"""Frozen tests for chapter 9: your KV cache against full causal attention, your int8 against mosslite.quantize."""

import pytest
import torch
import torch.nn.functional as F

from mosslite.quantize import quantize_int8


@pytest.mark.parametrize("chunks", [[7], [1] * 7, [3, 1, 1, 2], [4, 3]])
def test_cached_attention_equals_full_causal_attention(impl, chunks):
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 2, 4, 7, 8).unbind(0)  # [B=2, H=4, T=7, D=8] each
    full = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    cache, outputs, start = impl.KVCache(), [], 0
    for n in chunks:  # a prompt prefilled in one go, then decoded a few positions at a time
        part = slice(start, start + n)
        outputs.append(impl.cached_attention(q[:, :, part], k[:, :, part], v[:, :, part], cache))
        start += n
    torch.testing.assert_close(torch.cat(outputs, dim=2), full, atol=1e-5, rtol=1e-5)


def test_cache_returns_everything_seen(impl):
    cache = impl.KVCache()
    k1, v1, k2, v2 = torch.randn(4, 1, 2, 3, 5).unbind(0)
    cache.update(k1, v1)
    k_all, v_all = cache.update(k2[:, :, :1], v2[:, :, :1])
    assert k_all.shape == (1, 2, 4, 5)
    torch.testing.assert_close(k_all, torch.cat([k1, k2[:, :, :1]], dim=2))
    torch.testing.assert_close(v_all, torch.cat([v1, v2[:, :, :1]], dim=2))


def test_int8_codes_and_scales_match_the_library(impl):
    torch.manual_seed(0)
    w = torch.randn(16, 64)
    q, scale = impl.quantize_int8(w)
    assert q.dtype == torch.int8 and q.shape == w.shape and scale.shape == (16,)
    ref_q, ref_scale = quantize_int8(w)
    assert torch.equal(q, ref_q)
    torch.testing.assert_close(scale, ref_scale)
    assert q.abs().max() == 127  # each row's largest weight uses the whole range


def test_int8_round_trip_error_is_at_most_half_a_step(impl):
    torch.manual_seed(1)
    w = torch.randn(8, 32) * torch.logspace(-3, 1, 8)[:, None]  # rows of very different sizes: why scales are per row
    q, scale = impl.quantize_int8(w)
    error = (impl.dequantize_int8(q, scale) - w).abs()
    assert (error <= scale[:, None] / 2 + 1e-7).all()


def test_all_zero_row_does_not_divide_by_zero(impl):
    w = torch.zeros(2, 4)
    w[1] = torch.tensor([1.0, -2.0, 0.5, 0.0])
    q, scale = impl.quantize_int8(w)
    back = impl.dequantize_int8(q, scale)
    assert torch.isfinite(back).all() and torch.equal(back[0], torch.zeros(4))


def test_int8_linear_matches_the_dequantized_layer(impl):
    torch.manual_seed(2)
    linear = torch.nn.Linear(32, 12)
    q, scale = impl.quantize_int8(linear.weight.detach())
    x = torch.randn(5, 32)
    expected = F.linear(x, impl.dequantize_int8(q, scale), linear.bias.detach())
    torch.testing.assert_close(impl.int8_linear(x, q, scale, linear.bias.detach()), expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(impl.int8_linear(x, q, scale), expected - linear.bias.detach(), atol=1e-4, rtol=1e-4)
    assert (impl.int8_linear(x, q, scale) - x @ linear.weight.detach().T).abs().max() < 0.05  # close to fp32
