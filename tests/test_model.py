import time

import pytest
import torch

from mosslite.config import get_config
from mosslite.model import apply_rotary, build_model, lm_loss, rotary_angles
from mosslite.scaling import parameter_breakdown

ARCHS = {
    "moss": get_config("toy"),
    "gpt2": get_config("toy", position="learned", parallel_residual=False, attn_bias=True, attn_out_bias=True,
                       tie_embeddings=True, lm_head_bias=False),
    "llama": get_config("toy", norm="rmsnorm", mlp="swiglu", rotary_style="half", rotary_dim=None, n_query_groups=2,
                        mlp_bias=False, lm_head_bias=False, n_inner=96),
}


def test_moss_16b_on_meta_device_has_exact_parameter_count():
    start = time.perf_counter()
    model = build_model(get_config("moss-16b"), device="meta")
    assert time.perf_counter() - start < 5
    assert model.num_parameters() == 16_717_980_160
    E, V, L = 6144, 107008, 34
    assert model.num_parameters() == L * (12 * E * E + 7 * E) + 2 * V * E + V + 2 * E
    assert sum(parameter_breakdown(model).values()) == model.num_parameters()


def test_gpt2_124m_parameter_count_counts_tied_head_once():
    model = build_model(get_config("gpt2-124m"), device="meta")
    assert model.num_parameters() == 124_439_808
    assert model.lm_head.weight is model.tok_emb.weight


def test_preset_sizes():
    assert build_model(get_config("toy"), "meta").num_parameters() < 1_000_000
    assert 10e6 <= build_model(get_config("small"), "meta").num_parameters() <= 30e6


@pytest.mark.parametrize("arch", ARCHS)
def test_causality_future_tokens_do_not_change_the_past(arch):
    torch.manual_seed(0)
    model = build_model(ARCHS[arch]).eval()
    x = torch.randint(0, 512, (2, 12))
    y = x.clone()
    y[:, 7:] = torch.randint(0, 512, (2, 5))
    with torch.no_grad():
        a, b = model(x), model(y)
    torch.testing.assert_close(a[:, :7], b[:, :7])
    assert not torch.allclose(a[:, 7:], b[:, 7:])


@pytest.mark.parametrize("arch", ARCHS)
def test_kv_cache_decoding_matches_full_forward(arch):
    torch.manual_seed(0)
    model = build_model(ARCHS[arch]).eval()
    x = torch.randint(0, 512, (3, 11))
    with torch.no_grad():
        full = model(x)
        cache = model.make_cache(3)
        steps = [model(x[:, :5], cache=cache), model(x[:, 5:8], cache=cache)]
        steps += [model(x[:, i : i + 1], cache=cache) for i in range(8, 11)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=0)
    assert cache.length == 11


def test_left_padding_does_not_change_a_sequence():
    """A left-padded row, with its pad mask and shifted positions, gives the same logits as the row alone."""
    torch.manual_seed(0)
    model = build_model(get_config("toy")).eval()
    x = torch.randint(0, 512, (1, 6))
    padded = torch.cat([torch.zeros(1, 3, dtype=torch.long), x], dim=1)
    pad_mask = torch.tensor([[False] * 3 + [True] * 6])
    positions = (pad_mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        alone = model(x)
        with_pad = model(padded, positions=positions, pad_mask=pad_mask)
    assert torch.isfinite(with_pad).all()
    torch.testing.assert_close(with_pad[:, 3:], alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("style", ["interleaved", "half"])
def test_rotary_scores_depend_only_on_relative_position(style):
    torch.manual_seed(0)
    q, k = torch.randn(1, 1, 1, 16), torch.randn(1, 1, 1, 16)

    def score(i, j):
        cq = rotary_angles(torch.tensor([[i]]), 8, 10000.0)
        ck = rotary_angles(torch.tensor([[j]]), 8, 10000.0)
        return (apply_rotary(q, *cq, style) * apply_rotary(k, *ck, style)).sum()

    torch.testing.assert_close(score(5, 2), score(13, 10))
    assert not torch.isclose(score(5, 2), score(5, 4))


def test_context_overflow_is_a_clear_error():
    model = build_model(get_config("toy"))
    with pytest.raises(ValueError, match="exceeds the model's context of 128"):
        model(torch.zeros(1, 129, dtype=torch.long))


def test_initial_loss_is_near_uniform_and_training_reduces_it():
    torch.manual_seed(0)
    model = build_model(get_config("toy"))
    x = torch.randint(0, 512, (4, 33))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = lm_loss(model(x[:, :-1]), x[:, 1:])
    assert abs(first.item() - torch.log(torch.tensor(512.0)).item()) < 0.1
    for _ in range(30):
        loss = lm_loss(model(x[:, :-1]), x[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first.item() - 1.0


def test_last_only_gives_the_last_positions_logits_and_extends_the_cache_alike():
    torch.manual_seed(0)
    model = build_model(get_config("toy")).eval()
    x = torch.randint(0, 512, (2, 9))
    with torch.no_grad():
        full_cache, last_cache = model.make_cache(2), model.make_cache(2)
        full = model(x, cache=full_cache)
        last = model(x, cache=last_cache, last_only=True)
        assert last.shape == (2, 1, 512)
        torch.testing.assert_close(last, full[:, -1:])
        nxt = x[:, :1]
        torch.testing.assert_close(model(nxt, cache=last_cache), model(nxt, cache=full_cache))
