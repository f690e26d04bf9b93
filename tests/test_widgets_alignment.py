"""The side-by-side widget: every model answers the picked question, and the candidate answers' log-probabilities
(right, made-up, "I don't know", refusal) are the ones `answer_logprobs` gives, as shares that sum to one."""

import math

import pytest
import torch
from sft_support import make_base

from mosslite.align import answer_logprobs
from mosslite.chat import Conversation
from mosslite.checkpoint import load_checkpoint
from mosslite.data.honesty import ALIGN_META, honesty_probes
from mosslite.data.preference import answer_text
from mosslite.data.world import World, WorldConfig
from mosslite.evaluate import is_correct, is_refusal
from mosslite.tokenizer import load_tokenizer
from mosslite.widgets.alignment_compare import SideBySide, candidate_answers, compare_html

WORLD = World(WorldConfig(n_entities=12, zh_share=0.05, heldout=0.2, private=0.5))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    base, tokenizer_dir = make_base(tmp_path_factory.mktemp("base"))
    first = load_checkpoint(base)
    second = load_checkpoint(base)
    with torch.no_grad():  # a different model: the same shape, nudged weights
        for p in second.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return {"sft": first, "sft+dpo": second}, load_tokenizer(tokenizer_dir)


def test_candidates_are_right_made_up_dont_know_and_refusal_in_the_probe_language():
    for probe in honesty_probes(WORLD, n_known=2, n_unknown=4, n_benign=2):
        candidates = candidate_answers(WORLD, probe)
        assert is_refusal(candidates["I don't know"]) and is_refusal(candidates["refusal"])
        assert not is_correct(candidates["made-up answer"], probe.question) or probe.question.answer_en is None
        if probe.question.answer_en is not None and probe.lang == "en":
            assert is_correct(candidates["right answer"], probe.question)
        assert ("right answer" in candidates) == (probe.question.answer_en is not None)


def test_the_widget_shows_each_models_answer_and_the_logprobs_dpo_moves(models):
    models, tokenizer = models
    probes = honesty_probes(WORLD, n_known=2, n_unknown=2, n_benign=2)
    widget = SideBySide(models, tokenizer, WORLD, probes, max_new_tokens=4)
    private = next(i for i, p in enumerate(probes) if p.phrasing == "pressure")
    widget.picker.value = private
    result = widget.result
    assert set(result["answers"]) == {"sft", "sft+dpo"} and "earlier in the conversation" in widget.history.value
    prompt = Conversation(turns=list(probes[private].turns), meta=ALIGN_META).render(open_field="moss")
    expected = answer_logprobs(models["sft"], tokenizer, prompt, [answer_text(t) for t in result["candidates"].values()])
    assert list(result["logprobs"]["sft"].values()) == pytest.approx(expected)
    assert result["logprobs"]["sft"] != result["logprobs"]["sft+dpo"]
    for shares in result["shares"].values():
        assert math.isclose(sum(shares.values()), 1.0, rel_tol=1e-6)
    assert "greedy answer" in widget.table.value and "sft+dpo" in compare_html(result)
