"""The two probes of the translation experiment and how they are scored.

Cloze (right after pretraining): the Chinese statement prefix of a fact ("Retat 住 在") is followed by each value of
every relation, in both languages; the model's pick is the continuation it finds most likely. Restricting the pick to
value words separates "knows the fact" from "knows that a value comes next" (after a QA line the same prefix is
followed by a question word). Chance is 1/8 if the model knows which relation is asked, less otherwise.

Chat (after English-only SFT): the question goes through the MOSS chat format (`mosslite.evaluate`), the answer is
scored by exact attribute match in either language. Three numbers, kept apart on purpose:
  knowledge transfer  = Chinese questions about group B answered correctly (in either language): the headline;
  answer language     = share of those answers written in Chinese: format transfer, cheap and not the target;
  upper bound         = the same facts asked in English.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import torch

from mosslite.data.world import Question, World
from mosslite.evaluate import Record, evaluate


@dataclass
class ClozeScores:
    lang: str
    accuracy: dict[str, float]  # per split ("B/en", "A/en+zh", …): restricted pick is the gold value
    raw: dict[str, float]  # per split: the single most likely next token (whole vocabulary) starts the gold value
    by_attribute: dict[str, float]  # group B only
    picked_zh: float  # group B: share of restricted picks written in Chinese (the fact came out translated)
    examples: list[dict] = field(default_factory=list)  # group B: prompt, gold, pick


@torch.inference_mode()
def continuation_logprobs(model, prompts: list[list[int]], continuations: list[list[int]],
                          chunk: int = 4096) -> torch.Tensor:
    """log p(continuation | prompt) for every pair: a [len(prompts), len(continuations)] tensor (right-padded
    batches; padding comes after the scored tokens, so under the causal mask it never changes a score)."""
    pairs = [(p, c) for p in prompts for c in continuations]
    out = torch.empty(len(pairs))
    for start in range(0, len(pairs), chunk):
        batch = pairs[start:start + chunk]
        length = max(len(p) + len(c) for p, c in batch)
        ids = torch.zeros(len(batch), length, dtype=torch.long)
        for row, (p, c) in enumerate(batch):
            ids[row, :len(p) + len(c)] = torch.tensor(p + c)
        logprobs = model(ids).float().log_softmax(-1)
        for row, (p, c) in enumerate(batch):
            positions = torch.arange(len(p) - 1, len(p) + len(c) - 1)
            out[start + row] = logprobs[row, positions, torch.tensor(c)].sum()
    return out.view(len(prompts), len(continuations))


def value_candidates(world: World) -> list[tuple[str, str, str]]:
    """(text, English form, attribute) for every value of every relation in both languages, without repeats."""
    seen, out = set(), []
    for attr in {f.attribute.name: f.attribute for f in world.facts}.values():
        en, zh = world.choices(attr)
        for e, z in zip(en, zh):
            for text in (e, z):
                if text not in seen:
                    seen.add(text)
                    out.append((text, e, attr.name))
    return out


def cloze_probe(model, tokenizer, world: World, lang: str, max_examples: int = 24) -> ClozeScores:
    """Each fact's `lang` statement prefix, right after a document boundary; scored by restricted pick and raw
    next token, per split."""
    sep = tokenizer.special_tokens["<|endoftext|>"]
    candidates = value_candidates(world)
    cont_ids = [tokenizer.encode(" " + text) for text, _, _ in candidates]
    questions = [q for q in world.questions() if q.kind == "fact"]
    prompts = [[sep] + tokenizer.encode(q.cloze_en if lang == "en" else q.cloze_zh) for q in questions]
    scores = continuation_logprobs(model, prompts, cont_ids)
    with torch.inference_mode():
        first = _next_tokens(model, prompts)
    right, raw_right, by_attr = defaultdict(list), defaultdict(list), defaultdict(list)
    picked_zh, examples = [], []
    for i, q in enumerate(questions):
        text, english, _ = candidates[int(scores[i].argmax())]
        ok = english == q.answer_en
        gold_first = {tokenizer.encode(" " + q.answer_en)[0], tokenizer.encode(" " + (q.answer_zh or ""))[0]}
        right[q.split].append(ok)
        raw_right[q.split].append(int(first[i]) in gold_first)
        if q.split.startswith("B"):
            by_attr[q.attribute].append(ok)
            picked_zh.append(text != english)
            if len(examples) < max_examples:
                examples.append({"prompt": q.cloze_en if lang == "en" else q.cloze_zh, "gold": q.answer_en,
                                 "gold_zh": q.answer_zh, "pick": text, "correct": ok})
    mean = lambda xs: round(sum(xs) / len(xs), 4) if xs else float("nan")  # noqa: E731
    return ClozeScores(lang, {k: mean(v) for k, v in sorted(right.items())},
                       {k: mean(v) for k, v in sorted(raw_right.items())},
                       {k: mean(v) for k, v in sorted(by_attr.items())}, mean(picked_zh), examples)


def _next_tokens(model, prompts: list[list[int]]) -> torch.Tensor:
    """The most likely next token after each prompt (left-aligned, read at each prompt's last position)."""
    length = max(map(len, prompts))
    ids = torch.zeros(len(prompts), length, dtype=torch.long)
    for row, p in enumerate(prompts):
        ids[row, :len(p)] = torch.tensor(p)
    logits = model(ids)
    last = torch.tensor([len(p) - 1 for p in prompts])
    return logits[torch.arange(len(prompts)), last].argmax(-1)


# ------------------------------------------------------------------------------------------------ question
@dataclass
class QuestionScores:
    """A question as plain text right after a document boundary, continued greedily by the pretrained base (no chat
    format, no tuning): the anecdote in its rawest form."""

    lang: str
    accuracy: dict[str, float]  # per split: the continuation names the gold value (exact attribute match)
    answer_zh: float  # group B: share of continuations in Chinese
    examples: list[dict] = field(default_factory=list)  # group B: question, continuation, correct


@torch.inference_mode()
def question_probe(model, tokenizer, world: World, lang: str, max_new_tokens: int = 16,
                   max_examples: int = 24) -> QuestionScores:
    """Each fact's question in `lang` as a document start; the first line of the greedy continuation is the answer."""
    from mosslite.evaluate import answer_language, is_correct
    from mosslite.generate import generate

    sep = tokenizer.special_tokens["<|endoftext|>"]
    questions = [q for q in world.questions() if q.kind == "fact"]
    prompts = [[sep] + tokenizer.encode(q.en if lang == "en" else q.zh) for q in questions]
    outputs = generate(model, prompts, max_new_tokens, stop_tokens=[sep])
    right, zh, examples = defaultdict(list), [], []
    for q, out in zip(questions, outputs):
        answer = tokenizer.decode([t for t in out if t != sep]).strip().split("\n")[0]
        ok = is_correct(answer, q)
        right[q.split].append(ok)
        if q.split.startswith("B"):
            zh.append(answer_language(answer) == "zh")
            if len(examples) < max_examples:
                examples.append({"question": q.en if lang == "en" else q.zh, "answer": answer, "gold": q.answer_en,
                                 "correct": ok})
    mean = lambda xs: round(sum(xs) / len(xs), 4) if xs else float("nan")  # noqa: E731
    return QuestionScores(lang, {k: mean(v) for k, v in sorted(right.items())}, mean(zh), examples)


# ------------------------------------------------------------------------------------------------------ chat
@dataclass
class ChatScores:
    knowledge: float  # Chinese questions about group B, correct in either language: the headline
    answer_zh: float  # share of those answers in Chinese (answer-language transfer)
    languages: dict[str, float]  # all answer languages for those questions
    relation_ok: float  # share of those answers that name some value of the asked relation (right or wrong)
    upper_bound: float  # the same facts asked in English
    seen_zh: float  # Chinese questions about group A (facts that did appear in Chinese text)
    by_attribute: dict[str, float]  # knowledge per relation
    answers: list[dict] = field(default_factory=list)  # every group-B question and answer, both languages


def summarize(records: list[Record], questions: list[Question]) -> dict:
    """Accuracy, answer-language shares, relation-ok share and per-relation accuracy of one language's records."""
    attribute = {q.id: q.attribute for q in questions}
    n = max(len(records), 1)
    per_attr = defaultdict(list)
    for r in records:
        per_attr[attribute[r.id]].append(r.correct)
    languages = Counter(r.language for r in records)
    return {"accuracy": round(sum(r.correct for r in records) / n, 4),
            "languages": {k: round(v / n, 4) for k, v in languages.most_common()},
            "answer_zh": round(languages.get("zh", 0) / n, 4),
            "relation_ok": round(sum(bool(r.mentioned) for r in records) / n, 4),
            "by_attribute": {k: round(sum(v) / len(v), 4) for k, v in sorted(per_attr.items())}}


def chat_scores(model, tokenizer, world: World, meta, max_new_tokens: int = 24, limit: int | None = None) -> ChatScores:
    """Ask every group-B fact in Chinese and in English, and every group-A fact in Chinese, through the chat format
    (only the first `limit` of each, when given)."""
    questions = [q for q in world.questions() if q.kind == "fact"]
    held_out = [q for q in questions if q.split == "B/en"][:limit]
    seen = [q for q in questions if q.split.startswith("A/")][:limit]
    zh = evaluate(model, tokenizer, held_out, "zh", meta, max_new_tokens)
    en = evaluate(model, tokenizer, held_out, "en", meta, max_new_tokens)
    zh_seen = evaluate(model, tokenizer, seen, "zh", meta, max_new_tokens)
    s = summarize(zh.records, held_out)
    answers = [{"id": r.id, "lang": r.lang, "question": r.question, "gold": r.gold, "answer": r.answer,
                "correct": r.correct, "language": r.language} for r in zh.records + en.records]
    return ChatScores(s["accuracy"], s["answer_zh"], s["languages"], s["relation_ok"],
                      round(en.accuracy, 4), round(zh_seen.accuracy, 4), s["by_attribute"], answers)
