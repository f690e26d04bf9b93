"""Generation: greedy equals `transformers.generate`, sampling follows HF's rules, stop tokens and streaming agree."""

import pytest
import torch
from test_interop import V, one_thread, tiny_hf  # noqa: F401 (one_thread: an autouse fixture, found by name)
from transformers import (
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from mosslite.generate import SamplingConfig, apply_repetition_penalty, generate, stream, warp_logits
from mosslite.interop import from_hf_model

PROMPTS = [[5, 17, 33, 2, 90, 41, 8], [61, 3, 12], [7, 7, 50, 29, 11]]  # lengths 7, 3, 5: left padding needed


@pytest.fixture(scope="module", params=["codegen", "gpt2", "llama"])
def pair(request):
    hf = tiny_hf(request.param)
    return hf, from_hf_model(hf)


def hf_generate(hf, prompts, max_new_tokens, **kwargs) -> list[list[int]]:
    """HF generate on a left-padded batch with its attention mask; the new tokens of each row."""
    T = max(map(len, prompts))
    ids = torch.zeros(len(prompts), T, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, p in enumerate(prompts):
        ids[i, T - len(p) :], mask[i, T - len(p) :] = torch.tensor(p), 1
    with torch.no_grad():
        out = hf.generate(ids, attention_mask=mask, max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens,
                          do_sample=False, pad_token_id=0, **kwargs)
    return out[:, T:].tolist()


def test_greedy_matches_hf_for_one_prompt(pair):
    hf, ours = pair
    assert generate(ours, PROMPTS[:1], 20) == hf_generate(hf, PROMPTS[:1], 20)


def test_greedy_matches_hf_on_a_left_padded_batch(pair):
    hf, ours = pair
    expected = hf_generate(hf, PROMPTS, 16)
    assert generate(ours, PROMPTS, 16) == expected
    assert len({tuple(row) for row in expected}) == 3  # the rows really differ


def test_greedy_with_repetition_penalty_matches_hf(pair):
    hf, ours = pair
    assert generate(ours, PROMPTS[:1], 20, repetition_penalty=1.5) == \
        hf_generate(hf, PROMPTS[:1], 20, repetition_penalty=1.5)


def test_repetition_penalty_matches_hf_processor():
    torch.manual_seed(0)
    logits, ids = torch.randn(3, 50) * 3, torch.randint(0, 50, (3, 12))
    seen = torch.zeros(3, 50, dtype=torch.bool).scatter(1, ids, True)
    expected = RepetitionPenaltyLogitsProcessor(1.3)(ids, logits.clone())
    torch.testing.assert_close(apply_repetition_penalty(logits, seen, 1.3), expected, rtol=0, atol=0)


@pytest.mark.parametrize("temperature, top_k, top_p", [(0.7, None, None), (1.0, 5, None), (1.0, None, 0.8),
                                                       (0.7, 40, 0.8), (1.3, 3, 0.05)])
def test_temperature_top_k_top_p_match_hf_warpers(temperature, top_k, top_p):
    torch.manual_seed(0)
    logits, ids = torch.randn(4, 60) * 2, torch.zeros(4, 1, dtype=torch.long)
    expected = TemperatureLogitsWarper(temperature)(ids, logits.clone())
    if top_k:
        expected = TopKLogitsWarper(top_k)(ids, expected)
    if top_p:
        expected = TopPLogitsWarper(top_p)(ids, expected)
    got = warp_logits(logits, SamplingConfig(temperature, top_k, top_p))
    torch.testing.assert_close(got, expected)
    assert (got == float("-inf")).any() == (top_k is not None or top_p is not None)


def test_top_k_1_sampling_is_greedy(pair):
    _, ours = pair
    assert generate(ours, PROMPTS, 12, temperature=1.0, top_k=1, seed=3) == generate(ours, PROMPTS, 12)


def test_sampling_is_reproducible_with_a_seed(pair):
    _, ours = pair
    options = dict(temperature=0.9, top_k=40, top_p=0.95)
    first = generate(ours, PROMPTS, 24, seed=1, **options)
    assert generate(ours, PROMPTS, 24, seed=1, **options) == first
    assert generate(ours, PROMPTS, 24, seed=2, **options) != first
    assert first != generate(ours, PROMPTS, 24)  # sampling really sampled


def test_stop_tokens_end_each_sequence_at_its_first_stop(pair):
    _, ours = pair
    full = generate(ours, PROMPTS, 16)
    stop = full[0][3]
    stopped = generate(ours, PROMPTS, 16, stop_tokens=[stop])
    for row, whole in zip(stopped, full):
        end = whole.index(stop) + 1 if stop in whole else len(whole)
        assert row == whole[:end]  # the same tokens, ending with the stop token when it came
    assert stopped[0][-1] == stop and len(stopped[0]) <= 4  # the first row really was cut short


def test_stream_yields_the_tokens_generate_returns(pair):
    _, ours = pair
    options = dict(temperature=0.8, top_p=0.9, seed=5)
    assert list(stream(ours, PROMPTS[1], 15, **options)) == generate(ours, [PROMPTS[1]], 15, **options)[0]
    greedy = generate(ours, [PROMPTS[1]], 15)[0]
    assert list(stream(ours, PROMPTS[1], 15, stop_tokens=[greedy[4]])) == greedy[: greedy.index(greedy[4]) + 1]


def test_too_long_prompts_are_an_error_or_truncated_on_request(pair):
    _, ours = pair
    prompt = torch.randint(0, V, (60,)).tolist()  # block_size is 64
    with pytest.raises(ValueError, match=r"60 tokens \+ max_new_tokens=10 exceeds the model's block_size=64"):
        generate(ours, [prompt], 10)
    assert generate(ours, [prompt], 10, truncate=True) == generate(ours, [prompt[-54:]], 10)
    with pytest.raises(ValueError, match="block_size"):
        generate(ours, [prompt], 64, truncate=True)


def test_bad_sampling_options_are_refused(pair):
    _, ours = pair
    for bad in (dict(temperature=-1.0), dict(top_k=0), dict(top_p=1.5), dict(repetition_penalty=0.0)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            generate(ours, PROMPTS, 4, **bad)
