"""Frozen tests for chapter 6: the scorer of the translation experiment and a variation of it."""

import pytest

from mosslite.experiments.translation.design import Cell

COLORS_EN = ["red", "blue", "green", "purple"]
COLORS_ZH = ["红色", "蓝色", "绿色", "紫色"]


def test_answer_language(impl):
    assert impl.answer_language("Kelob 最 喜欢 的 颜色 是 紫色 。") == "zh"
    assert impl.answer_language("Kelob 's favorite color is purple .") == "en"
    assert impl.answer_language("Kelob likes 紫色") == "zh"  # code-switched: one Chinese character is enough
    assert impl.answer_language("") == "none" and impl.answer_language("42 .") == "none"


def test_values_named_in_either_language(impl):
    assert impl.values_named("Kelob likes 紫色 .", "Kelob", COLORS_EN, COLORS_ZH) == ["purple"]
    assert impl.values_named("Red and blue .", "Kelob", COLORS_EN, COLORS_ZH) == ["red", "blue"]
    assert impl.values_named("Kelob likes reddish tones .", "Kelob", COLORS_EN, COLORS_ZH) == []


def test_the_entity_name_is_never_a_value(impl):
    cities = ["Bimora", "Todavik"]
    assert impl.values_named("Bimora lives in Todavik .", "Bimora", cities, cities) == ["Todavik"]


def test_exact_attribute_match(impl):
    assert impl.is_correct("Kelob 's favorite color is purple .", "Kelob", "purple", COLORS_EN, COLORS_ZH)
    assert impl.is_correct("Kelob 最 喜欢 的 颜色 是 紫色 。", "Kelob", "purple", COLORS_EN, COLORS_ZH)
    assert not impl.is_correct("purple or red", "Kelob", "purple", COLORS_EN, COLORS_ZH)
    assert not impl.is_correct("Kelob lives in Bimora .", "Kelob", "purple", COLORS_EN, COLORS_ZH)
    assert not impl.is_correct("", "Kelob", "purple", COLORS_EN, COLORS_ZH)


def test_restricted_pick_returns_the_english_form(impl):
    english_of = {"purple": "purple", "紫色": "purple", "red": "red", "红色": "red"}
    assert impl.restricted_pick({"purple": -3.0, "紫色": -0.5, "red": -2.0, "红色": -4.0}, english_of) == "purple"
    assert impl.restricted_pick({"red": -1.0, "紫色": -1.0}, english_of) == "red"


def test_transfer_summary_keeps_the_three_numbers_apart(impl):
    s = impl.transfer_summary([True, False, True, False], ["en", "en", "zh", "none"], [True, True, True, False],
                              baseline=0.25)
    assert s["knowledge"] == pytest.approx(0.5)
    assert s["answer_zh"] == pytest.approx(0.25)
    assert s["upper_bound"] == pytest.approx(0.75)
    assert s["gain"] == pytest.approx(0.25)
    assert impl.transfer_summary([], [], [], 0.0)["knowledge"] == 0.0


def test_variation_is_a_fair_comparison(impl):
    cells = [Cell(**c) for c in impl.variation_cells()]  # every dict is a valid cell
    assert len(cells) == len(set(cells)) == 9
    assert {(c.zh, c.design) for c in cells} >= {(0.01, "comparable"), (0.01, "default")}
    assert any(c.zh == 0 for c in cells)  # the baseline is measured, not assumed
    assert {c.size for c in cells} == {"toy"} and {c.steps for c in cells} == {600}
    for design in ("comparable", "default"):
        assert sorted(c.seed for c in cells if c.design == design and c.zh == 0.01) == [0, 1, 2]
