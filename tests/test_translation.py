"""The translation experiment: its scorer, its cache keys, one smoke cell end to end, and determinism given the seed."""

import re
from dataclasses import replace

import pytest
import torch
from conftest import ByteTokenizer

from mosslite.config import get_config
from mosslite.data.world import World
from mosslite.evaluate import Record
from mosslite.experiments.translation.design import (
    TUNES,
    Cell,
    cache_key,
    parse_point,
    tokenizer_world,
    world_config,
)
from mosslite.experiments.translation.inside import translation_similarity
from mosslite.experiments.translation.pipeline import base_key, run_cell, tune_of
from mosslite.experiments.translation.score import continuation_logprobs, summarize, value_candidates
from mosslite.experiments.translation.sweep import flat_row, sweep_cells
from mosslite.experiments.translation.sweep import summarize as summarize_sweep
from mosslite.model import build_model

SMOKE = Cell(zh=0.05, size="toy", steps=30, tune="smoke", seed=0)


# ---------------------------------------------------------------------------------------------------- design
def test_world_keeps_group_b_out_of_chinese_and_meets_the_share():
    world = World(world_config(Cell(zh=0.01)))
    b_names = {e.name for e in world.entities if e.group == "B"}
    en = zh = 0
    for doc in world.documents():
        en, zh = en + doc.en_units, zh + doc.zh_units
        if doc.kind != "en":
            assert not any(name in doc.text.split() for name in b_names), doc.text
    assert zh / (en + zh) == pytest.approx(0.01, abs=0.001)
    assert {q.split for q in world.questions()} == {"A/en+zh", "B/en"}


def test_bilingual_forum_and_parallel_faq_knobs():
    """zh_cross_qa answers Chinese questions in English; zh_parallel_qa pairs an English FAQ line with its
    translation; both leave the measured share where it was asked and never mention group B."""
    for knob, pattern in (("zh_cross_qa", r"？ [A-Z]"), ("zh_parallel_qa", r"\? .* ？")):
        config = replace(world_config(Cell(zh=0.05, design="prototype")), **{knob: 1.0})
        docs = [d for _, d in zip(range(20000), World(config).documents())]
        bilingual = "\n".join(d.text for d in docs if d.kind == "bilingual")
        assert re.search(pattern, bilingual), knob
        share = sum(d.zh_units for d in docs) / sum(d.zh_units + d.en_units for d in docs)
        assert share == pytest.approx(0.05, abs=0.005)


def test_chat_layout_writes_question_answer_lines_as_chat_turns(tmp_path):
    """qa_layout="chat": English FAQ lines and Chinese questions become chat-log turns whose end tokens pack as the
    special ids chat uses; the share and the group-B rule hold as before."""
    from mosslite.data.pack import ChatLogTokenizer
    from mosslite.experiments.translation.pipeline import build_tokenizer, meta_instruction
    from mosslite.tokenizer import load_tokenizer

    cell = Cell(zh=0.05, size="toy", steps=30)  # the default design lays them out as chat turns
    world = World(world_config(cell))
    docs = [d for _, d in zip(range(5000), world.documents())]
    logs = [d for d in docs if "<|Human|>:" in d.text]
    assert any(d.kind == "en" for d in logs) and any(re.search(r"<\|Human\|>: [^\n]*？<eoh>", d.text) for d in logs)
    b_names = {e.name for e in world.entities if e.group == "B"}
    assert not any(n in d.text.split() for d in docs if d.kind != "en" for n in b_names)
    share = sum(d.zh_units for d in docs) / sum(d.zh_units + d.en_units for d in docs)
    assert share == pytest.approx(0.05, abs=0.005)
    assert world_config(replace(cell, zh=0.0)).qa_layout == "chat"  # its 0% control keeps the layout
    tokenizer = load_tokenizer(build_tokenizer(cell, meta_instruction(), tmp_path))
    ids = ChatLogTokenizer(tokenizer).encode(logs[0].text)
    assert tokenizer.special_tokens["<eoh>"] in ids and tokenizer.special_tokens["<eom>"] in ids
    assert tokenizer.special_tokens["<eoh>"] not in tokenizer.encode(logs[0].text)  # plain text otherwise


def test_answer_template_fixes_the_dialogue_answer():
    config = replace(world_config(Cell()), answer_template=0)
    world = World(config)
    for dialogue in world.dialogues(20):
        for turn, fact in zip(dialogue.turns, dialogue.facts):
            assert turn.moss == world.statement(world.facts[fact], "en", 0)


def test_parse_point_reads_types_and_rejects_unknown_keys():
    assert parse_point("zh=0.01,size=tiny,seed=2") == Cell(zh=0.01, size="tiny", seed=2)
    with pytest.raises(ValueError, match="key one of"):
        parse_point("share=0.01")
    with pytest.raises(ValueError, match="design"):
        Cell(design="nonsense")


def test_cache_keys_follow_exactly_what_a_stage_depends_on():
    cell = Cell(zh=0.01)
    assert base_key(cell) == base_key(Cell(zh=0.01))
    assert base_key(cell) == base_key(replace(cell, tune="lora"))  # fine-tuning reuses the base
    for change in ({"zh": 0.05}, {"seed": 1}, {"size": "toy"}, {"steps": 100}, {"design": "parallel"}):
        assert base_key(replace(cell, **change)) != base_key(cell), change
    # The vocabulary is the same at every share of one seed (shares are compared on equal tokens) ...
    assert tokenizer_world(cell) == tokenizer_world(replace(cell, zh=0.0))
    assert tokenizer_world(cell) != tokenizer_world(replace(cell, seed=1))
    assert cache_key({"a": 1, "b": 2}) == cache_key({"b": 2, "a": 1})


def test_transliterated_names_get_a_vocabulary_that_keeps_every_word_whole(tmp_path):
    from mosslite.chat import Conversation, Turn
    from mosslite.experiments.translation.pipeline import build_tokenizer, meta_instruction
    from mosslite.tokenizer import load_tokenizer

    meta, lengths = meta_instruction(), {}
    for design in ("default", "no-code-switch"):
        cell = Cell(size="toy", design=design)
        tokenizer = load_tokenizer(build_tokenizer(cell, meta, root=tmp_path))
        world = World(world_config(cell))
        fact = world.facts[0]
        dialogue = Conversation([Turn(world.question_text(fact, "en"), world.statement(fact, "en"))], meta).render()
        lengths[design] = len(tokenizer.encode(dialogue)), len(tokenizer.encode(world.statement(fact, "zh")))
    assert lengths["no-code-switch"][0] == lengths["default"][0]  # English and the chat scaffold are untouched
    assert lengths["no-code-switch"][1] == lengths["default"][1]  # a transliterated name is one token, as a Latin one


def test_a_base_key_names_a_vocabulary_budget_only_where_it_is_not_the_usual_one(monkeypatch):
    import mosslite.experiments.translation.pipeline as pipeline

    transliterated, usual = Cell(design="no-code-switch"), Cell(size="toy")
    before = base_key(transliterated), base_key(usual)
    monkeypatch.setattr(pipeline, "VOCAB_TRANSLITERATED", pipeline.VOCAB)
    assert base_key(transliterated) != before[0]  # the base embeds its tokenizer's vocabulary: a new size, a new base
    assert base_key(usual) == before[1] == "451a7ddc5ee9"  # every other key (and cached base) stays as it was


def test_fine_tuning_rate_scales_down_for_small_only():
    for size in ("toy", "tiny"):  # their recipes (and so their cached fine-tunes) are the named ones, unchanged
        assert tune_of(Cell(size=size)) is TUNES["full"]
    small = tune_of(Cell(size="small"))
    assert small.lr == pytest.approx(0.3 * TUNES["full"].lr) and small.max_steps == TUNES["full"].max_steps
    assert small == TUNES["gentle"]  # 3e-4: the same recipe, so the same fine-tune, as "gentle" at toy's rate


# ---------------------------------------------------------------------------------------------------- scorer
def test_continuation_logprobs_match_a_direct_computation():
    torch.manual_seed(0)
    model = build_model(get_config("toy", vocab_size=50, block_size=32)).eval()
    prompts, continuations = [[1, 2, 3], [4]], [[5], [6, 7]]
    scores = continuation_logprobs(model, prompts, continuations, chunk=3)
    with torch.no_grad():
        logp = model(torch.tensor([[4, 6, 7]])).log_softmax(-1)
    assert scores.shape == (2, 2)
    assert scores[1, 1] == pytest.approx(float(logp[0, 0, 6] + logp[0, 1, 7]), abs=1e-5)


def test_value_candidates_cover_both_languages_once():
    world = World(world_config(Cell()))
    candidates = value_candidates(world)
    texts = [t for t, _, _ in candidates]
    assert len(texts) == len(set(texts))
    assert ("紫色", "purple", "color") in candidates and ("purple", "purple", "color") in candidates


def test_summarize_counts_language_relation_and_accuracy():
    world = World(world_config(Cell()))
    qs = [q for q in world.questions() if q.split == "B/en"][:3]
    records = [Record(qs[0].id, "B/en", "zh", qs[0].zh, qs[0].answer_en, f"{qs[0].entity} ... {qs[0].answer_zh}",
                      True, "zh", [qs[0].answer_en]),
               Record(qs[1].id, "B/en", "zh", qs[1].zh, qs[1].answer_en, "no idea", False, "en", []),
               Record(qs[2].id, "B/en", "zh", qs[2].zh, qs[2].answer_en, "", False, "none", [])]
    s = summarize(records, qs)
    assert s["accuracy"] == pytest.approx(1 / 3, abs=1e-3)
    assert s["answer_zh"] == pytest.approx(1 / 3, abs=1e-3)
    assert s["relation_ok"] == pytest.approx(1 / 3, abs=1e-3)
    assert set(s["languages"]) == {"zh", "en", "none"}


def test_hidden_state_similarity_has_one_value_per_layer():
    world = World(world_config(Cell()))
    model = build_model(get_config("toy", vocab_size=262, block_size=128)).eval()
    tok = ByteTokenizer()
    tok.special_tokens = {"<|endoftext|>": 256}
    sim = translation_similarity(model, tok, world, limit=8)
    assert len(sim.matched) == len(sim.gap) == model.config.n_layer + 1
    assert sim.pairs == 8


# ---------------------------------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def smoke_roots(tmp_path_factory):
    return tmp_path_factory.mktemp("a"), tmp_path_factory.mktemp("b")


@pytest.fixture(scope="module")
def smoke_results(smoke_roots):
    first = run_cell(SMOKE, root=smoke_roots[0], threads=1).to_dict()
    again = run_cell(SMOKE, root=smoke_roots[1], threads=1).to_dict()
    return first, again


@pytest.mark.slow
def test_smoke_cell_runs_end_to_end(smoke_results):
    result, _ = smoke_results
    row = flat_row(result)
    assert row["zh_measured"] == pytest.approx(0.05, abs=0.005)
    assert 0 <= row["chat_knowledge"] <= 1 and 0 <= row["cloze_zh_B"] <= 1
    assert len(result["chat"]["answers"]) == 24  # 12 group-B questions in each language
    # The untuned base is asked the same questions, through the same format and scorer.
    untuned = result["untuned"]["chat"]
    assert [a["question"] for a in untuned["answers"]] == [a["question"] for a in result["chat"]["answers"]]
    assert row["untuned_knowledge"] == untuned["knowledge"] and 0 <= row["untuned_upper_bound"] <= 1
    assert result["base"]["cloze_curve"], "the cloze probe ran during pretraining"
    summary = summarize_sweep([row, {**row, "seed": 1}])
    assert summary[0]["seeds"] == 2 and summary[0]["chat_knowledge_std"] == 0


@pytest.mark.slow
def test_a_cell_is_deterministic_given_its_seed(smoke_results):
    first, again = smoke_results
    assert first["base"]["train_loss"] == again["base"]["train_loss"]
    assert first["cloze"] == again["cloze"]
    assert first["chat"] == again["chat"]
    assert first["untuned"]["chat"] == again["untuned"]["chat"]


@pytest.mark.slow
def test_a_sweep_reuses_cached_stages_and_writes_the_untuned_rung(smoke_results, smoke_roots, tmp_path):
    import csv
    import json

    from mosslite.experiments.translation.sweep import run_sweep

    result, _ = smoke_results
    [again] = run_sweep([SMOKE], tmp_path, workers=1, threads=1, root=smoke_roots[0], progress=False)
    assert again["untuned"]["chat"] == result["untuned"]["chat"] and again["chat"] == result["chat"]
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["bases_trained_now"] == 0 and run["sft_runs_now"] == 0 and run["threads"] == 1
    [row] = list(csv.DictReader((tmp_path / "cells.csv").open()))
    assert float(row["untuned_knowledge"]) == result["untuned"]["chat"]["knowledge"]
    assert "untuned_knowledge_mean" in next(csv.DictReader((tmp_path / "summary.csv").open()))


def test_cached_only_skips_cells_without_a_base_and_says_which(smoke_results, smoke_roots, tmp_path):
    import json

    from mosslite.experiments.translation.sweep import run_sweep

    missing = replace(SMOKE, seed=7)
    rows = run_sweep([SMOKE, missing], tmp_path, workers=1, threads=1, root=smoke_roots[0], progress=False,
                     cached_only=True)
    assert [r["cell"]["seed"] for r in rows] == [SMOKE.seed]
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["skipped_not_cached"] == [missing.label] and run["bases_trained_now"] == 0
    with pytest.raises(ValueError, match="has a pretrained base"):
        run_sweep([missing], tmp_path, workers=1, root=smoke_roots[0], progress=False, cached_only=True)


def test_flat_row_reads_results_written_before_the_untuned_rung(smoke_results):
    result, _ = smoke_results
    old = {k: v for k, v in result.items() if k != "untuned"}
    row = flat_row(old)
    assert row["untuned_knowledge"] is None and row["chat_knowledge"] == result["chat"]["knowledge"]
    assert "untuned_knowledge_mean" not in summarize_sweep([row])[0]


def test_sweeps_are_well_formed():
    cells = sweep_cells("default")
    assert {c.zh for c in cells} >= {0.0, 0.001, 0.01, 0.05}
    for name in ("default", "sizes", "sizes-small", "designs", "tunes", "length"):  # the issue: >= 3 seeds per cell
        cells = sweep_cells(name)
        assert all(sum(1 for d in cells if replace(d, seed=0) == replace(c, seed=0)) >= 3 for c in cells), name
    sizes = sweep_cells("sizes")
    assert {(c.size, c.zh) for c in sizes} == {(s, z) for s in ("toy", "tiny", "small") for z in (0.0, 0.01)}
    assert {c.seed for c in sizes if c.size in ("toy", "small")} == {0, 1, 2}  # the issue: three presets from toy
    assert len(sizes) == 22 and {c.seed for c in sizes if c.size == "tiny"} == {0, 1, 2, 3, 4}
    assert set(sweep_cells("sizes-small")) == {c for c in sizes if c.size == "small"}
    with pytest.raises(ValueError, match="unknown sweep"):
        sweep_cells("nope")


def test_explorer_widget_shows_scores_and_answers(smoke_results):
    from mosslite.widgets.translation_explorer import TranslationExplorer

    result, _ = smoke_results
    calls = []
    explorer = TranslationExplorer([result], run_live=lambda cell: calls.append(cell) or result)
    assert "knowledge transfer" in explorer.scores.value
    shown = min(8, sum(a["lang"] == "zh" for a in result["chat"]["answers"]))
    assert explorer.answers.value.count("<tr>") == 1 + shown  # a header and one row per answer
    explorer.rerun()
    assert calls == [{"zh": SMOKE.zh, "size": SMOKE.size, "design": SMOKE.design, "seed": SMOKE.seed}]
    assert "live run" in explorer.status.value
