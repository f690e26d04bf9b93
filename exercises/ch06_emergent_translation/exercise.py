"""Chapter 6 exercises: score the translation experiment yourself, then design a variation of it.

Replace each `raise NotImplementedError` with your code, then run `pytest exercises/ch06_emergent_translation`.
The library's versions are `mosslite.evaluate` (answer language, exact attribute match) and
`mosslite.experiments.translation` (the cloze pick, the summary, the cells).
"""

from __future__ import annotations


def answer_language(text: str) -> str:
    """"zh" if `text` holds any Chinese character (U+3400-U+9FFF), else "en" if it holds a Latin letter, else "none".

    The world's English never contains a Chinese character, so one is enough to call an answer Chinese."""
    raise NotImplementedError


def values_named(answer: str, entity: str, choices_en: list[str], choices_zh: list[str]) -> list[str]:
    """The values of the asked relation that `answer` names, in English form, in the order of `choices_en`.

    A value counts when its English word appears as a whole word (case-insensitive: "Red" names "red", "reddish"
    does not) or its Chinese word appears anywhere (Chinese has no spaces between words). The entity's own name is
    removed from the answer first: a name is never an answer ("Bimora lives in ..." must not name a city
    "Bimora")."""
    raise NotImplementedError


def is_correct(answer: str, entity: str, gold_en: str, choices_en: list[str], choices_zh: list[str]) -> bool:
    """Exact attribute match in either language: the answer names the gold value and no other value of the relation.
    "Kelob lives in Morvik ." is right for Morvik; "Morvik or Dorvik" is wrong; so is an answer about another
    relation ("Kelob 's favorite color is red ." for a city question names no city)."""
    raise NotImplementedError


def restricted_pick(logprobs: dict[str, float], english_of: dict[str, str]) -> str:
    """The cloze probe's pick: the candidate value with the highest log-probability, returned in English form.

    `logprobs` maps every candidate value (English and Chinese words of every relation) to log p(value | prompt);
    `english_of` maps each candidate to its English form ("紫色" -> "purple", "purple" -> "purple"). Ties go to the
    candidate that comes first in `logprobs`."""
    raise NotImplementedError


def transfer_summary(zh_correct: list[bool], zh_languages: list[str], en_correct: list[bool],
                     baseline: float) -> dict[str, float]:
    """The experiment's three numbers for one cell, kept apart, plus the headline gain:
        knowledge    share of Chinese questions answered correctly (either language)
        answer_zh    share of answers to Chinese questions written in Chinese ("zh")
        upper_bound  share of the same facts answered correctly when asked in English
        gain         knowledge - baseline (the 0% model's knowledge), in points of share (0.3 = 30 points)
    Empty lists give 0.0."""
    raise NotImplementedError


def variation_cells() -> list[dict]:
    """A variation for you to run and explain: does the *kind* of Chinese text matter more than its amount?

    Return cells (dicts of mosslite.experiments.translation.design.Cell fields) that compare the "comparable" design
    (Chinese statements about other people, nothing parallel) with the "default" design at a 1% Chinese share, on
    the toy model at 600 pretraining steps, with the 0% baseline, each with seeds 0, 1 and 2. Then run them:
        from mosslite.experiments.translation.design import Cell
        from mosslite.experiments.translation.sweep import run_sweep
        run_sweep([Cell(**c) for c in variation_cells()], "results/my-variation")
    and explain the cloze and chat columns in a paragraph."""
    raise NotImplementedError
