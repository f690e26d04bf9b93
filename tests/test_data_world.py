"""The bilingual world: deterministic, exactly metered, and its splits hold (B stays English-only, held-out facts
stay out of pretraining)."""

import json
import re

import pytest

from mosslite.data import world_templates as T
from mosslite.data.world import World, WorldConfig, count_units, save_world

CJK = re.compile(r"[\u4e00-\u9fff]")
SMALL = WorldConfig(n_entities=40, n_cities=6, docs_per_fact=4, zh_share=0.05, zh_dictionary=0.1)


def sentences(text: str) -> set[str]:
    return {s for line in text.split("\n") for s in re.split(r"(?<=[.?!。？]) ?", line) if s}


@pytest.fixture(scope="module")
def world() -> World:
    return World(SMALL)


@pytest.fixture(scope="module")
def docs(world):
    return list(world.documents())


def test_same_config_same_world_and_text():
    a, b = World(SMALL), World(SMALL)
    assert [d.text for d in a.documents()] == [d.text for d in b.documents()]
    assert a.questions() == b.questions()
    assert a.unknown_questions(5) == b.unknown_questions(5)  # asking twice never changes the answer
    other = World(WorldConfig(**{**SMALL.__dict__, "seed": 1}))
    assert [e.name for e in other.entities] != [e.name for e in a.entities]


def test_unit_counts_are_exact_and_the_chinese_share_is_on_target(docs):
    assert all(count_units(d.text) == d.en_units + d.zh_units for d in docs)
    zh = sum(d.zh_units for d in docs) / sum(d.en_units + d.zh_units for d in docs)
    assert abs(zh - 0.05) < 0.002
    for kind in ("en", "bilingual", "dictionary", "arithmetic"):
        assert any(d.kind == kind for d in docs), kind


@pytest.mark.parametrize("share", [0.001, 0.01])
def test_small_chinese_shares_hold(share):
    """The share is met to within one bilingual document, however long the stream."""
    docs = list(World(WorldConfig(docs_per_fact=20, zh_share=share)).documents())
    zh, total = sum(d.zh_units for d in docs), sum(d.en_units + d.zh_units for d in docs)
    assert abs(zh - share * total) <= max(d.zh_units for d in docs)


def test_english_text_does_not_depend_on_the_chinese_share():
    """Chinese documents are inserted into the same English stream: a zh_share sweep changes nothing else."""
    english = [[d.text for d in World(WorldConfig(**{**SMALL.__dict__, "zh_share": s})).documents() if d.kind == "en"]
               for s in (0.0, 0.01, 0.1)]
    assert english[0] == english[1] == english[2]


def test_group_b_never_appears_in_chinese_text_or_in_sft(world, docs):
    b_names = {e.name for e in world.entities if e.group == "B"}
    chinese = [d.text for d in docs if CJK.search(d.text)]
    assert chinese
    for text in chinese:
        words = set(re.findall(r"[A-Z][a-z]+", text))
        assert not words & b_names, text
    dialogues = world.dialogues(300, ("en", "zh"), ("fact", "no_tool", "search"))
    for d in dialogues:
        text = json.dumps(d.as_dict(), ensure_ascii=False)
        turns_text = " ".join(t.human + " " + t.moss for t in d.turns)
        assert not set(re.findall(r"[A-Z][a-z]+", turns_text)) & b_names, text


def test_each_fact_appears_in_exactly_docs_per_fact_english_documents(world, docs):
    english = [sentences(d.text) for d in docs if d.kind == "en"]
    for fact in world.facts:
        renderings = {s for s, _ in world._say[fact.id].en}
        hits = sum(1 for s in english if s & renderings)
        assert hits == (0 if fact.exposure == "search" else SMALL.docs_per_fact), fact


def test_held_out_facts_are_only_in_the_search_index(world, docs):
    heldout = [f for f in world.facts if f.exposure == "search"]
    assert len(heldout) == round(SMALL.heldout * len(world.facts))
    every_sentence = set().union(*(sentences(d.text) for d in docs))
    index = "\n".join(world.search_documents())
    for fact in heldout:
        renderings = {s for s, _ in world._say[fact.id].en + world._say[fact.id].zh}
        assert not renderings & every_sentence
        assert world.statement(fact, "en") in index and world.statement(fact, "zh") in index


def test_questions_cover_every_fact_with_splits_and_bilingual_gold(world):
    questions = world.questions()
    assert len(questions) == len(world.facts)
    splits = {q.split for q in questions}
    assert {"A/en+zh", "B/en", "A/search", "B/search"} <= splits
    in_pool = {q.id for q in questions if q.sft}
    assert not any(q.sft for q in questions if q.split.startswith("B/"))
    used = {f"fact-{i}" for d in world.dialogues(200, ("en",), ("fact", "search")) for i in d.facts}
    assert used and used <= in_pool  # SFT only ever uses facts its questions mark as SFT facts
    for q in questions:
        assert q.answer_en in q.choices_en or not q.choices_en
        assert q.answer_zh in q.choices_zh or not q.choices_zh
        assert q.zh.endswith("？") and CJK.search(q.zh) and q.entity in q.zh  # code-switched name
    # The translation experiment's item: a fact seen only in English, asked in Chinese, with a Chinese cloze.
    q = next(q for q in questions if q.split == "B/en" and q.attribute == "color")
    fact = next(f for f in world.facts if f.value_en == q.answer_en and world.entities[f.entity].name == q.entity
                and f.attribute.name == "color")
    assert world.statement(fact, "zh").startswith(q.cloze_zh) and world.statement(fact, "en").startswith(q.cloze_en)
    assert q.answer_zh in dict(T.COLORS).values()


def test_every_template_is_usable():
    """First templates give the cloze prompt (value last); every Chinese template turns into a question."""
    for attrs in T.ATTRIBUTES.values():
        for a in attrs:
            assert a.en[0].endswith("{v}.") and a.zh[0].endswith("{v} 。"), a.name
            assert all("{x}" in t and "{v}" in t for t in a.en + a.zh), a.name
            assert all("{x}" in q and "{v}" not in q for q in a.en_questions), a.name


def test_dialogues_answer_with_the_fact_and_tools_give_real_results(world):
    dialogues = world.dialogues(60, ("en", "zh"), ("fact", "arithmetic", "no_tool", "search", "calculate", "solve"))
    assert {d.kind for d in dialogues} == {"fact", "arithmetic", "no_tool", "search", "calculate", "solve"}
    by_id = {f.id: f for f in world.facts}
    for d in dialogues:
        assert (d.lang == "zh") == bool(CJK.search(d.turns[0].human)), d
        if d.kind in ("fact", "no_tool", "search"):
            for turn, fact_id in zip(d.turns, d.facts):
                fact = by_id[fact_id]
                assert fact.value_en in turn.moss or fact.value_zh in turn.moss
                assert world.entities[fact.entity].group == "A"
        if d.kind == "search":
            fact = by_id[d.facts[0]]
            assert fact.exposure == "search" and d.turns[0].commands.startswith('Search("')
            assert "<|1|>" in d.turns[0].results and "<sup><|1|></sup>" in d.turns[0].moss
        if d.kind == "calculate":
            answer = re.search(r"= (\d+)", d.turns[0].moss)[1]
            assert d.turns[0].results.endswith(f"=> {answer}")
        if d.kind == "solve":
            numbers = re.findall(r"= (\d+)", d.turns[0].results)
            assert numbers and all(n in d.turns[0].moss for n in numbers)
        if d.kind in ("fact", "arithmetic"):
            assert d.tools == () and d.turns[0].inner_thoughts is None



def test_lookups_search_every_group_a_fact_by_a_query_copied_from_the_question(world):
    dialogues = world.dialogues(120, ("en",), ("lookup",))
    by_id = {f.id: f for f in world.facts}
    facts = [by_id[d.facts[0]] for d in dialogues]
    assert {"en+zh", "search"} <= {f.exposure for f in facts}  # known facts too: Search on means search
    for d, fact in zip(dialogues, facts):
        name = world.entities[fact.entity].name
        turn = d.turns[0]
        assert world.entities[fact.entity].group == "A" and d.tools == ("Search", "Calculate", "Solve")
        # the query is the thought's tail, and the name keeps the leading space it has in the question
        assert turn.commands == f'Search("{fact.attribute.search_en} of {name}")'
        assert f" {name}" in turn.human and f"of {name}." in turn.inner_thoughts
        assert fact.value_en in turn.results.split("<|2|>")[0]


def test_fresh_searches_are_about_invented_entities_only_their_snippets_know(world):
    n_facts, n_entities = len(world.facts), len(world.entities)
    dialogues = world.dialogues(60, ("en", "zh"), ("fresh", "fact"))
    fresh = [d for d in dialogues if d.kind == "fresh"]
    assert len(world.facts) == n_facts and len(world.entities) == n_entities  # the world itself is untouched
    invented = world.invented(len(fresh), salt="sft")  # the invented world the dialogues used (their salt)
    known = {e.name for e in world.entities} | {n for n, _ in world.bystanders}
    documents = "\n".join(d.text for d in world.documents()) + "\n".join(world.search_documents())
    names = set()
    for d in fresh:
        fact = invented.facts[d.facts[0]]
        entity, turn = invented.entities[fact.entity], d.turns[0]
        assert entity.group == "new" and entity.name not in known and entity.name not in documents
        assert fact.value_entity is None or world.entities[fact.value_entity].group == "A"  # never group B
        assert entity.name in turn.human and entity.name in turn.commands  # the query copies the question's name
        value = fact.value_en if d.lang == "en" else fact.value_zh
        assert value in turn.results.split("<|2|>")[0] and value in turn.moss  # the answer copies the snippet
        names.add(entity.name)
    assert len(names) == len(fresh) == 30  # each invented name in one dialogue only: nothing to memorise
    assert len(invented.facts) - len(world.facts) > 2 * len(fresh)  # their other facts are in the index too
    same_entity = [sum(f"<|{i}|>: {invented.entities[invented.facts[d.facts[0]].entity].name} " in d.turns[0].results
                       for i in (2, 3)) for d in fresh]
    assert 2 in same_entity  # its other snippets can be the same entity's other facts: the attribute decides


def test_segmented_and_transliterated_rendering():
    w = World(WorldConfig(**{**SMALL.__dict__, "segmented": True, "zh_code_switch": False}))
    docs = [d.text for d in w.documents() if d.kind == "bilingual"]
    assert any(" 住 在 " in t or " 的 " in t for t in docs)
    assert not any(re.search(r"[a-z]\.", t) for t in docs)  # English punctuation split off
    latin_b = {e.name for e in w.entities}
    zh_lines = [s for t in docs for s in t.split("\n") if not re.search(r"[A-Za-z]", s)]
    assert zh_lines and all(not set(s.split()) & latin_b for s in zh_lines)
    assert all(count_units(t) for t in docs)


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="zh_share"):
        WorldConfig(zh_share=0.9)
    with pytest.raises(ValueError, match="kinds"):
        WorldConfig(kinds=("dragon",))


def test_small_prototype_world_and_private_codes():
    """The prototypes' design: people only, three relations; plus private codes for the alignment stage."""
    w = World(WorldConfig(n_entities=48, kinds=("person",), attributes=("city", "color", "food", "secret_code"),
                          private=0.25, heldout=0.0))
    assert {e.kind for e in w.entities if e.group} == {"person"}
    assert {f.attribute.name for f in w.facts} == {"city", "color", "food", "secret_code"}
    private = [q for q in w.questions() if q.private]
    assert len(private) == 12 and all(q.command is None for q in private)
    assert not any("secret" in s for s in w.search_documents())


def test_save_world_writes_every_part(tmp_path):
    stats = save_world(World(SMALL), tmp_path, n_dialogues=30)
    meta = json.loads((tmp_path / "stats.json").read_text())
    assert meta["units"] == stats.units > 0 and abs(meta["zh_share"] - 0.05) < 0.005
    lines = (tmp_path / "pretrain.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == stats.documents
    assert len((tmp_path / "sft.jsonl").read_text().splitlines()) == 30
    kinds = {json.loads(line)["kind"] for line in (tmp_path / "eval.jsonl").read_text().splitlines()}
    assert kinds == {"fact", "arithmetic", "equation", "unknown"}
    assert json.loads((tmp_path / "world.json").read_text())["config"]["zh_share"] == 0.05
