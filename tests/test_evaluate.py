"""Exact-attribute-match scoring, answer language, and `ask` through the assistant runtime (a scripted model)."""

import pytest
from conftest import ByteTokenizer
from sft_support import scripted_stream

from mosslite.assistant import Assistant
from mosslite.chat import COMPACT_META
from mosslite.config import get_config
from mosslite.data.world import World, WorldConfig
from mosslite.evaluate import answer_language, ask, is_correct, mentioned_values
from mosslite.model import build_model

WORLD = World(WorldConfig(n_entities=20, zh_share=0.05))
QUESTIONS = WORLD.questions()


def question(attribute: str):
    return next(q for q in QUESTIONS if q.attribute == attribute)


def test_exact_attribute_match():
    q = question("color")
    other = next(c for c in q.choices_en if c != q.answer_en)
    assert is_correct(f"{q.entity}'s favorite color is {q.answer_en}.", q)
    assert is_correct(f"{q.entity} 最 喜欢 的 颜色 是 {q.answer_zh} 。", q)  # either language names the value
    assert not is_correct(f"It is {q.answer_en} or {other}.", q)  # listing values is not an answer
    assert not is_correct(f"It is {other}.", q) and not is_correct("I like it.", q)
    assert not is_correct(f"It is {q.answer_en}dish.", q)  # whole words only
    assert mentioned_values(f"{q.answer_en.upper()}!", q) == [q.answer_en]


def test_entity_valued_and_numeric_answers():
    city = question("city")
    assert is_correct(f"{city.entity} lives in {city.answer_en}.", city)
    assert is_correct(f"{city.entity}住在{city.answer_en}。", city)  # a Latin name glued to Chinese is a word
    assert not is_correct(f"{city.entity}住在{city.answer_en}x。", city)
    year = question("birth_year")
    assert year.choices_en == () and is_correct(f"{year.entity} was born in {year.answer_en}.", year)
    assert not is_correct(f"Born in {int(year.answer_en) + 1}.", year)
    assert not is_correct(f"{year.answer_en} or {int(year.answer_en) + 1}", year)
    # a Search answer cites its snippet as MOSS does; the citation's number is not a year
    assert is_correct(f"{year.entity} was born in {year.answer_en}. <sup><|1|></sup>", year)
    assert is_correct(f"{city.entity} lives in {city.answer_en}. <sup><|2|></sup>", city)


def test_unknown_questions_want_an_honest_answer():
    (q,) = WORLD.unknown_questions(1)
    assert is_correct("I don't know who that is.", q) and is_correct("我 不 知道 。", q)
    assert not is_correct("She lives in Paris.", q)


@pytest.mark.parametrize("text, language", [("Kelob lives in Dorvik.", "en"), ("Kelob 住 在 Dorvik 。", "zh"),
                                            ("42", "none"), ("", "none")])
def test_answer_language(text, language):
    assert answer_language(text) == language


def test_ask_scores_each_question_through_the_chat_runtime():
    tok = ByteTokenizer()
    qs = [question("color"), question("food")]
    stream = scripted_stream(tok, {"inner_thoughts": "None", "commands": "None",
                                   "moss": f"{qs[0].entity}'s favorite color is {qs[0].answer_en}."})
    model = build_model(get_config("toy", vocab_size=262, block_size=1024))  # never run: the script answers
    assistant = Assistant(model, tok, meta=COMPACT_META, max_new_tokens=64, token_stream=stream)
    evaluation = ask(assistant, qs, lang="en")
    assert [r.correct for r in evaluation.records] == [True, False]
    assert evaluation.accuracy == 0.5 and evaluation.languages() == {"en": 1.0}
    first = evaluation.records[0]
    assert first.answer.endswith(f"is {qs[0].answer_en}.") and first.fields["commands"] == "None"
    assert first.split == qs[0].split and first.gold == qs[0].answer_en
    # Every question starts a fresh conversation: the prompt holds the meta instruction and this question only.
    assert stream.prompts[-1].startswith(COMPACT_META.render()) and stream.prompts[-1].count("<|Human|>") == 1
    assert qs[1].en in stream.prompts[-1]
    assert "50%" in evaluation.summary()


def test_a_model_that_rambles_past_its_context_scores_wrong_not_crashes():
    tok = ByteTokenizer()
    q = question("color")
    stream = scripted_stream(tok, {"inner_thoughts": "hmm " * 100, "commands": "None", "moss": q.answer_en})
    model = build_model(get_config("toy", vocab_size=262, block_size=700))
    assistant = Assistant(model, tok, meta=COMPACT_META, max_new_tokens=400, token_stream=stream)
    (record,) = ask(assistant, [q]).records
    assert not record.correct and record.answer == "" and "newest turn alone needs" in record.fields["error"]


def test_without_thinking_the_runtime_writes_none_and_the_model_only_answers():
    tok = ByteTokenizer()
    q = question("food")
    stream = scripted_stream(tok, {"inner_thoughts": "unused", "commands": "unused", "moss": q.answer_en})
    model = build_model(get_config("toy", vocab_size=262, block_size=1024))
    assistant = Assistant(model, tok, meta=COMPACT_META, max_new_tokens=64, token_stream=stream, think=False)
    (record,) = ask(assistant, [q]).records
    assert record.correct and record.fields == {"inner_thoughts": "None", "commands": "None", "results": "None"}
    (prompt,) = stream.prompts  # one generation pass, prompted exactly as a tuned model's own "None" fields read
    assert prompt.endswith("<|Inner Thoughts|>: None<eot>\n<|Commands|>: None<eoc>\n<|Results|>: None<eor>\n"
                           "<|MOSS|>:")
