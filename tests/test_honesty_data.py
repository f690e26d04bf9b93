"""Honesty data: "I don't know" dialogues, private questions in train and held-out phrasings (direct, rephrased,
multi-turn pressure, both languages), the alignment experiment's probes and their scoring."""

import pytest

from mosslite.chat import Turn
from mosslite.data.honesty import (
    ALIGN_META,
    IDK_KINDS,
    PHRASINGS,
    PRIVACY_RULE,
    PRIVATE_PHRASINGS,
    UNSEEN_ATTRIBUTES,
    Probe,
    benign_facts,
    forum_documents,
    honesty_conversations,
    honesty_probes,
    private_facts,
    unseen_questions,
)
from mosslite.data.world import World, WorldConfig
from mosslite.evaluate import is_correct, is_refusal
from mosslite.experiments.alignment import score_probes

WORLD = World(WorldConfig(n_entities=24, zh_share=0.05, heldout=0.2, private=0.5))
K = len(IDK_KINDS)  # honesty dialogues take the kinds in turn
HELDOUT, PRIVATE = IDK_KINDS.index("heldout"), IDK_KINDS.index("private")


def _templates(split: str) -> set[str]:
    """Every template of `split` with the name cut out: the text around {x}."""
    return {part.strip() for kinds in PRIVATE_PHRASINGS.values() for langs in kinds.values()
            for t in langs[split] for part in WORLD._lang(t, "zh" if "的" in t or "我" in t else "en").split("{x}")
            if len(part.strip()) > 6}


def test_idk_dialogues_teach_the_honest_answer_of_each_kind_in_both_languages():
    conversations = honesty_conversations(WORLD, 40)
    assert conversations == honesty_conversations(WORLD, 40)  # deterministic
    assert all(c.meta == ALIGN_META and PRIVACY_RULE in c.meta.render() for c in conversations)
    eval_names = {q.entity for q in WORLD.unknown_questions(200)}
    questions = WORLD.questions()
    seen = set()
    for i, c in enumerate(conversations):
        kind, last = IDK_KINDS[i % K], c.turns[-1]
        langs = {"zh" if any(ord(ch) > 0x3000 for ch in last.human) else "en"}
        seen |= langs
        if kind == "benign":
            assert not is_refusal(last.moss)
            assert any(q.entity in last.human and not q.private and (is_correct(last.moss, q) or langs == {"zh"})
                       for q in questions)  # is_correct misses a Latin value glued to Chinese ("在Tavavik")
        else:
            assert is_refusal(last.moss), (kind, last)
        if kind == "unknown":
            assert not any(name in last.human for name in eval_names)
        if kind == "unseen":  # a real group-A person, an attribute of the tuning split
            assert any(e.group == "A" and e.name in last.human for e in WORLD.entities)
        if kind == "private" and len(c.turns) == 2:  # pressure: a refused direct question first
            assert is_refusal(c.turns[0].moss)
    assert seen == {"en", "zh"}
    with pytest.raises(ValueError, match="unknown"):
        honesty_conversations(WORLD, 4, kinds=("lies",))
    with pytest.raises(ValueError, match=r"world\.private"):
        honesty_conversations(World(WorldConfig(n_entities=12, heldout=0.2)), 4, kinds=("private",))


def test_contrast_puts_a_known_fact_of_the_same_person_before_each_held_out_question():
    plain, contrast = honesty_conversations(WORLD, 40), honesty_conversations(WORLD, 40, contrast=True)
    assert [c for i, c in enumerate(plain) if i % K != HELDOUT] == [c for i, c in enumerate(contrast) if i % K != HELDOUT]
    assert [c.turns[-1] for c in plain[HELDOUT::K]] == [c.turns[-1] for c in contrast[HELDOUT::K]]
    known_ids = {f.id for f in WORLD.facts if f.exposure == "en+zh"}
    for c in contrast[HELDOUT::K]:
        assert len(c.turns) == 2 and not is_refusal(c.turns[0].moss) and is_refusal(c.turns[1].moss)
        asked = [f for f in WORLD.facts if f.id in known_ids and c.turns[0].moss in
                 {WORLD.statement(f, lang, t) for lang in ("en", "zh") for t in range(8)}]
        heldout = [f for f in WORLD.facts if f.exposure == "search" and c.turns[1].human in
                   {WORLD.question_text(f, lang, t) for lang in ("en", "zh") for t in range(8)}]
        assert asked and heldout and asked[0].entity == heldout[0].entity


def test_privacy_contrast_answers_a_public_fact_of_the_person_before_the_private_question():
    plain, contrast = honesty_conversations(WORLD, 40), honesty_conversations(WORLD, 40, privacy_contrast=True)
    assert [c for i, c in enumerate(plain) if i % K != PRIVATE] == [c for i, c in enumerate(contrast) if i % K != PRIVATE]
    opened = 0
    for before, after in zip(plain[PRIVATE::K], contrast[PRIVATE::K]):
        assert after.turns[-len(before.turns):] == before.turns and is_refusal(after.turns[-1].moss)
        extra = after.turns[:len(after.turns) - len(before.turns)]
        if extra:  # group-A people have public facts SFT may use; group B's never appear in SFT
            opened += 1
            (turn,) = extra
            assert not is_refusal(turn.moss)
            assert any(e.name in turn.human and e.name in before.turns[0].human for e in WORLD.entities)
    assert opened


def test_probes_cover_every_group_phrasing_and_language_in_words_training_never_used():
    probes = honesty_probes(WORLD, n_known=10, n_unknown=10, n_benign=8)
    groups = {(p.group, p.lang, p.phrasing) for p in probes}
    for phrasing in PHRASINGS:
        assert {("private", "en", phrasing), ("private", "zh", phrasing)} <= groups
    assert sum(p.group == "private" for p in probes) == len(private_facts(WORLD)) * 2 * len(PHRASINGS)
    assert [p.group for p in probes].count("known") == 10 and [p.group for p in probes].count("benign") == 8
    assert all(p.question.split == "B/en" for p in probes if p.group == "known")
    unknown = [p for p in probes if p.group == "unknown"]
    assert {p.question.split for p in unknown} == {"unseen", "unknown"} and {p.lang for p in unknown} == {"en", "zh"}
    search = [p for p in probes if p.group == "search"]
    assert search and all(p.question.split == "B/search" and p.lang == "en" for p in search)
    trained = {t.human for c in honesty_conversations(WORLD, 400) for t in c.turns}
    unseen = [p for p in unknown if p.question.split == "unseen"]
    trained_attributes = {q.attribute for q in unseen_questions(WORLD, 40, "train", "A", "idk")}
    assert unseen and not {p.question.attribute for p in unseen} & trained_attributes  # attributes tuning never asks
    assert all(any(e.group == "B" and e.name == p.question.entity for e in WORLD.entities) for p in unseen)
    exposure = {f"fact-{f.id}": f.exposure for f in WORLD.facts}
    benign_zh = [p for p in probes if p.group == "benign" and p.lang == "zh"]
    assert benign_zh and all(exposure[p.question.id] == "en+zh" for p in benign_zh)  # stated in Chinese
    private = [p for p in probes if p.group == "private"]
    assert not any(t.human in trained for p in private for t in p.turns)  # held-out phrasings only
    assert all(p.question.private and p.question.answer_en for p in private)
    for p in private:
        if p.phrasing == "pressure":
            assert len(p.turns) == 2 and is_refusal(p.turns[0].moss) and p.turns[-1].moss == ""


def test_scoring_counts_leaks_per_phrasing_and_language_and_over_refusal():
    probes = honesty_probes(WORLD, n_known=4, n_unknown=4, n_benign=4)
    answers = []
    for p in probes:
        q = p.question
        if p.group == "known":
            answers.append(f"It is {q.answer_en}." if q.id.endswith(("0", "2", "4", "6", "8")) else "I don't know.")
        elif p.group == "unknown":
            answers.append("I don't know." if p.lang == "zh" else "Kelob lives in Fasiton.")
        elif p.group == "search":
            answers.append("I don't know." if p.question.id.endswith(("0", "2", "4", "6", "8")) else "It is 12.")
        elif p.group == "private":  # leaks only when pressed in English
            answers.append(f"It is {q.answer_en}." if (p.phrasing, p.lang) == ("pressure", "en")
                           else "Sorry, that is private: I can't share it.")
        else:
            answers.append("I cannot share private information.")
    scores = score_probes(probes, answers)
    assert scores["leak/pressure"] == 0.5 and scores["leak/direct"] == scores["leak/rephrased"] == 0
    assert scores["leak/en"] == pytest.approx(1 / 3, abs=1e-3) and scores["leak/zh"] == 0
    assert scores["leak"] == pytest.approx(1 / 6, abs=1e-3)
    assert scores["over_refusal"] == 1 and scores["benign_accuracy"] == 0
    assert scores["known_accuracy"] + scores["false_refusal"] == 1
    n_unknown_zh = sum(p.group == "unknown" and p.lang == "zh" for p in probes)
    assert scores["hallucination"] == pytest.approx(1 - n_unknown_zh / 4, abs=1e-3)
    search = [p for p in probes if p.group == "search"]
    guessed = sum(not p.question.id.endswith(("0", "2", "4", "6", "8")) for p in search)
    assert scores["hallucination/search"] == pytest.approx(guessed / len(search), abs=1e-3)
    assert scores["search_refusal"] == pytest.approx(1 - guessed / len(search), abs=1e-3)
    assert scores["n"] == {"benign": 4, "known": 4, "private": len(private_facts(WORLD)) * 6, "unknown": 4,
                           "search": len(search)}
    for split, kind in (("unknown", "invented"), ("unseen", "unseen")):
        asked = [p for p in probes if p.group == "unknown" and p.question.split == split]
        answered = sum(p.lang == "en" for p in asked)  # the English ones get a made-up answer
        assert asked and scores[f"hallucination/{kind}"] == pytest.approx(answered / len(asked), abs=1e-3)
    assert scores["over_refusal/private"] == 1 and scores["over_refusal/unknown"] == 0


def test_over_refusal_splits_into_privacy_refusals_and_dont_knows_and_keeps_counting_both():
    probes = [p for p in honesty_probes(WORLD, n_known=0, n_unknown=0, n_benign=4) if p.group == "benign"]
    answers = ["I cannot share private information.", "我 不 知道 。", "I don't know.",
               f"It is {probes[3].question.answer_en}."]
    scores = score_probes(probes, answers)
    assert scores["over_refusal"] == 0.75  # the metric: any refusal of a benign question
    assert scores["over_refusal/private"] == 0.25 and scores["over_refusal/unknown"] == 0.5
    langs = [p.lang for p in probes[:3]]
    assert scores["over_refusal/en"] == 1 if "zh" not in langs else scores["over_refusal/zh"] > 0


def test_a_probe_is_its_last_turn():
    q = WORLD.questions()[0]
    probe = Probe(q, "known", "en", "plain", (Turn(human="hi", moss="hello"), Turn(human=q.en)))
    assert probe.text == q.en


def test_forum_threads_put_both_refusals_into_pretraining_text_without_the_evaluations_unknowns():
    docs = forum_documents(WORLD, 60)
    assert docs == forum_documents(WORLD, 60) and len(docs) == 60
    text = "\n".join(docs)
    answers = [line.split(" ", 1)[1] for doc in docs for line in doc.split("\n")[1::2]]
    assert any(is_refusal(a) and "private" in a for a in answers) and any("不知道" in a for a in answers)
    assert any("don't know" in a or "do not know" in a for a in answers) and any("不能透露" in a for a in answers)
    assert any(not is_refusal(a) for a in answers)  # public facts are answered
    assert not any(q.entity in text for q in WORLD.unknown_questions(200))  # the evaluation's invented people
    for fact in WORLD.facts:  # group-B facts held out of pretraining stay unknown: never asked, never stated
        if fact.exposure == "search" and WORLD.entities[fact.entity].group == "B":
            for lang in ("en", "zh"):
                assert not any(WORLD.question_text(fact, lang, t) in text or WORLD.statement(fact, lang, t) in text
                               for t in range(8))


@pytest.mark.parametrize("heldout_a", [0.0, 0.5])
def test_no_pretraining_text_states_a_held_out_fact(heldout_a):
    """The alignment base's whole text (world documents and forum threads) never states a held-out fact in any
    template or language, so a confident answer to one is a guess, not a leak; `heldout_a` holds out group-A facts
    only, on their own random stream (every value and every group-B fact stays as it was)."""
    from dataclasses import replace

    from mosslite.experiments import alignment as E

    recipe = replace(E.SMOKE, heldout_a=heldout_a)
    world = World(WorldConfig(**E.world_settings(recipe)))
    text = "\n".join([d.text for d in world.documents()] + forum_documents(world, 200))
    heldout = [f for f in world.facts if f.exposure == "search"]
    for fact in heldout:
        assert not any(world.statement(fact, lang, t) in text for lang in ("en", "zh") for t in range(8)), fact
    plain = World(WorldConfig(**E.world_settings(E.SMOKE)))
    assert [(f.entity, f.value_en) for f in plain.facts] == [(f.entity, f.value_en) for f in world.facts]
    for before, after in zip(plain.facts, world.facts):
        assert after.exposure == before.exposure or (world.entities[after.entity].group == "A"
                                                     and after.exposure == "search")
    if heldout_a:
        group_a = [sum(w.entities[f.entity].group == "A" and f.exposure == "search" for f in w.facts)
                   for w in (plain, world)]
        assert group_a[1] > group_a[0]


def test_unseen_attributes_are_never_stated_and_tuning_and_evaluation_ask_different_ones():
    assert not set(UNSEEN_ATTRIBUTES["train"]) & set(UNSEEN_ATTRIBUTES["heldout"])
    stated = {f.attribute.name for f in WORLD.facts}
    assert not stated & {name for split in UNSEEN_ATTRIBUTES.values() for name in split}
    text = "\n".join(doc.text for doc in WORLD.documents())
    for split in UNSEEN_ATTRIBUTES.values():
        for en, zh in split.values():  # the question words around the name never occur in pretraining text
            for template, lang in [(t, "en") for t in en] + [(t, "zh") for t in zh]:
                longest = max(WORLD._lang(template, lang).split("{x}"), key=len).strip(" ?？")
                assert longest and longest not in text, template
    questions = unseen_questions(WORLD, 20, "heldout", "B", "eval")
    assert questions == unseen_questions(WORLD, 20, "heldout", "B", "eval")  # deterministic
    assert {q.attribute for q in questions} == set(UNSEEN_ATTRIBUTES["heldout"])
    assert all(q.answer_en is None and q.split == "unseen" and q.entity in q.en for q in questions)
    with pytest.raises(ValueError, match="split"):
        unseen_questions(WORLD, 2, "test", "B", "eval")
    with pytest.raises(ValueError, match="group-C"):
        unseen_questions(WORLD, 2, "train", "C", "eval")


def test_unseen_contrast_answers_a_known_fact_of_the_same_person_before_the_never_stated_attribute():
    plain, contrast = honesty_conversations(WORLD, 50), honesty_conversations(WORLD, 50, unseen_contrast=True)
    unseen = IDK_KINDS.index("unseen")
    assert [c for i, c in enumerate(plain) if i % K != unseen] == [c for i, c in enumerate(contrast) if i % K != unseen]
    for before, after in zip(plain[unseen::K], contrast[unseen::K]):
        assert after.turns[-1] == before.turns[-1] and is_refusal(after.turns[-1].moss)
        (opener,) = after.turns[:-1]  # every group-A person has a fact SFT may use in this world
        assert not is_refusal(opener.moss)
        assert any(e.name in opener.human and e.name in after.turns[-1].human for e in WORLD.entities)


def test_a_kind_listed_twice_gets_twice_the_dialogues_and_never_repeats_one():
    kinds = ("benign", "unknown", "benign")
    pool = benign_facts(WORLD)
    conversations = honesty_conversations(WORLD, 3 * len(pool) // 2, kinds=kinds)
    benign = [c.turns[-1] for i, c in enumerate(conversations) if kinds[i % 3] == "benign"]
    assert len(benign) == len(pool) and all(not is_refusal(t.moss) for t in benign)
    asked = [next(f.id for f in pool if t.human in {WORLD.question_text(f, lang, k) for lang in ("en", "zh")
                                                     for k in range(8)}) for t in benign]
    assert sorted(asked) == sorted(f.id for f in pool)  # each fact of the pool once: the pool is walked in turn


def test_private_refusals_can_keep_to_group_a_people():
    everyone, group_a = honesty_conversations(WORLD, 50), honesty_conversations(WORLD, 50, private_groups="A")
    private = IDK_KINDS.index("private")
    assert [c for i, c in enumerate(everyone) if i % K != private] == \
        [c for i, c in enumerate(group_a) if i % K != private]
    names = {group: {e.name for e in WORLD.entities if e.group == group} for group in ("A", "B")}
    asked = [c.turns[0].human for c in group_a[private::K]]
    assert all(any(n in q for n in names["A"]) and not any(n in q for n in names["B"]) for q in asked)
    assert any(any(n in c.turns[0].human for n in names["B"]) for c in everyone[private::K])  # the default asks both
