"""Deployment measurements: the KV-cache size formula, cache-free decoding, and the precision comparison."""

import torch

from mosslite.config import get_config
from mosslite.deploy import (
    compare_precisions,
    format_precisions,
    greedy_without_cache,
    kv_cache_bytes,
    perplexity,
    with_precision,
)
from mosslite.generate import generate
from mosslite.model import build_model, lm_loss
from mosslite.quantize import QuantizedLinear


def test_kv_cache_bytes_is_what_the_model_allocates():
    config = get_config("toy", n_query_groups=2)
    cache = build_model(config).make_cache(3, 50)
    assert kv_cache_bytes(config, 3, 50) == cache.k.nbytes + cache.v.nbytes


def test_decoding_without_the_cache_gives_the_same_tokens():
    torch.manual_seed(0)
    model = build_model(get_config("toy")).eval()
    assert greedy_without_cache(model, [3, 1, 4, 1, 5], 12) == generate(model, [[3, 1, 4, 1, 5]], 12)[0]


def test_precision_variants_are_copies_that_shrink_and_stay_close():
    torch.manual_seed(0)
    model = build_model(get_config("toy", n_embd=128)).eval()
    ids = torch.randint(0, 512, (600,))
    # Teach the model a little so its perplexity means something (a random model's is ~vocab size everywhere).
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    x, y = ids[:-1].view(1, -1)[:, :128], ids[1:].view(1, -1)[:, :128]
    for _ in range(30):
        opt.zero_grad()
        lm_loss(model(x), y).backward()
        opt.step()
    model.eval()
    int8 = with_precision(model, "int8")
    assert any(isinstance(m, QuantizedLinear) for m in int8.modules())
    assert not any(isinstance(m, QuantizedLinear) for m in model.modules())  # the original is untouched
    rows = compare_precisions(model, ids, [1, 2, 3], new_tokens=8, seq_len=128, repeats=1)
    by = {r.precision: r for r in rows}
    assert by["bf16"].bytes < by["fp32"].bytes and by["int8"].bytes < by["bf16"].bytes
    assert by["int4"].bytes < by["int8"].bytes
    assert abs(by["int8"].perplexity / by["fp32"].perplexity - 1) < 0.01
    assert by["fp32"].perplexity == perplexity(model, ids, 128)
    assert "| int4 |" in format_precisions(rows)
