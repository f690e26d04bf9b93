"""Frozen tests for chapter 10: answer log-probabilities, DPO's loss and gradient, and the hallucination scorer."""

import math

import pytest
import torch

from mosslite.align import dpo_loss as library_dpo_loss
from mosslite.align import sequence_logprobs as library_sequence_logprobs


# ------------------------------------------------------------------------------------------- log-probabilities
def test_sequence_logprobs_sum_only_the_answer_tokens(impl):
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7)
    labels = torch.tensor([[-100, -100, 3, 1, -100], [-100, 2, 2, 6, 0]])
    logp = torch.log_softmax(logits, -1)
    expected = torch.stack([logp[0, 2, 3] + logp[0, 3, 1], logp[1, 1, 2] + logp[1, 2, 2] + logp[1, 3, 6] + logp[1, 4, 0]])
    assert torch.allclose(impl.sequence_logprobs(logits, labels), expected, atol=1e-6)
    assert torch.allclose(impl.sequence_logprobs(logits, labels), library_sequence_logprobs(logits, labels), atol=1e-6)


# ---------------------------------------------------------------------------------------------------- DPO loss
def test_dpo_loss_by_hand(impl):
    pc, pr, rc, rr = (torch.tensor([-3.0, -5.0]), torch.tensor([-4.0, -2.0]), torch.tensor([-3.5, -5.0]),
                      torch.tensor([-3.0, -2.5]))
    # margins: β·((−3+3.5) − (−4+3)) = 0.5·1.5 = 0.75 and 0.5·(0 − 0.5) = −0.25
    expected = (math.log(1 + math.exp(-0.75)) + math.log(1 + math.exp(0.25))) / 2
    assert impl.dpo_loss(pc, pr, rc, rr, 0.5).item() == pytest.approx(expected, abs=1e-6)
    assert impl.dpo_loss(pc, pr, rc, rr, 0.5).item() == pytest.approx(library_dpo_loss(pc, pr, rc, rr, 0.5).loss.item())


def test_at_the_start_the_policy_is_the_reference_and_the_loss_is_log_2(impl):
    logps = torch.tensor([-7.0, -1.0, -12.0])
    assert impl.dpo_loss(logps, logps - 3, logps, logps - 3, 0.1).item() == pytest.approx(math.log(2))


def test_the_gradient_raises_chosen_and_lowers_rejected(impl):
    pc = torch.tensor([-3.0], requires_grad=True)
    pr = torch.tensor([-4.0], requires_grad=True)
    loss = impl.dpo_loss(pc, pr, torch.tensor([-3.0]), torch.tensor([-4.0]), 0.1)
    loss.backward()
    # d/dπc of −log σ(β(πc − πr − …)) at margin 0 is −β·σ(0) = −0.05
    assert pc.grad.item() == pytest.approx(-0.05) and pr.grad.item() == pytest.approx(0.05)


def test_huge_margins_stay_finite(impl):
    big = torch.tensor([1000.0])
    zero = torch.tensor([0.0])
    assert impl.dpo_loss(big, zero, zero, zero, 1.0).item() == pytest.approx(0.0, abs=1e-6)
    assert impl.dpo_loss(zero, big, zero, zero, 1.0).item() == pytest.approx(1000.0)


# ------------------------------------------------------------------------------------------- the scorer
CITIES = ["Fasiton", "Dorvik", "Lezoton"]


@pytest.mark.parametrize(("answer", "gold", "expected"), [
    ("Kelob lives in Fasiton.", "Fasiton", "correct"),
    ("Kelob lives in Dorvik.", "Fasiton", "wrong"),
    ("Fasiton or Dorvik.", "Fasiton", "wrong"),
    ("I don't know.", "Fasiton", "refusal"),
    ("I DON\u2019T KNOW", "Fasiton", "refusal"),
    ("抱歉，我不知道。", None, "refusal"),
    ("Sorry, that is private: I can't share it.", None, "refusal"),
    ("Vikul lives in Lezoton.", None, "hallucination"),
    ("Vikul lives somewhere nice.", None, "hallucination"),  # confident, and nobody could know
    ("Kelob lives in Fasitonia.", "Fasiton", "wrong"),  # a whole word, not a prefix
])
def test_classify(impl, answer, gold, expected):
    assert impl.classify(answer, gold, CITIES) == expected


def test_hallucination_rate_counts_only_unknowable_questions(impl):
    answers = ["Kelob lives in Dorvik.", "I don't know.", "Vikul lives in Lezoton.", "Pomo lives in Dorvik."]
    golds = ["Fasiton", None, None, None]
    assert impl.hallucination_rate(answers, golds, [CITIES] * 4) == pytest.approx(2 / 3)
    assert math.isnan(impl.hallucination_rate(answers[:1], golds[:1], [CITIES]))
