"""Reference solutions for chapter 6 (the library's versions live in mosslite/evaluate.py and
mosslite/experiments/translation/)."""

from __future__ import annotations

import re


def answer_language(text: str) -> str:
    if re.search(r"[\u3400-\u9fff]", text):
        return "zh"
    return "en" if re.search(r"[A-Za-z]", text) else "none"


def values_named(answer: str, entity: str, choices_en: list[str], choices_zh: list[str]) -> list[str]:
    text = answer.replace(entity, " ")
    out = []
    for en, zh in zip(choices_en, choices_zh):
        whole_word = re.search(rf"(?<!\w){re.escape(en)}(?!\w)", text, re.IGNORECASE) is not None
        if whole_word or (zh and zh in text):
            out.append(en)
    return out


def is_correct(answer: str, entity: str, gold_en: str, choices_en: list[str], choices_zh: list[str]) -> bool:
    return values_named(answer, entity, choices_en, choices_zh) == [gold_en]


def restricted_pick(logprobs: dict[str, float], english_of: dict[str, str]) -> str:
    best = max(logprobs, key=logprobs.get)  # max keeps the first of equal keys
    return english_of[best]


def transfer_summary(zh_correct: list[bool], zh_languages: list[str], en_correct: list[bool],
                     baseline: float) -> dict[str, float]:
    def share(items) -> float:
        items = list(items)
        return sum(items) / len(items) if items else 0.0

    knowledge = share(zh_correct)
    return {"knowledge": knowledge, "answer_zh": share(lang == "zh" for lang in zh_languages),
            "upper_bound": share(en_correct), "gain": knowledge - baseline}


def variation_cells() -> list[dict]:
    cells = []
    for zh, design in ((0.0, "default"), (0.01, "default"), (0.01, "comparable")):
        for seed in (0, 1, 2):
            cells.append({"zh": zh, "design": design, "size": "toy", "steps": 600, "seed": seed})
    return cells
