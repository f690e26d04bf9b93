"""`mosslite experiment tools`: the smoke pipeline end to end, and the evaluation harness checked with a scripted
model that uses each tool perfectly (full marks with tools) or knows nothing (no marks without)."""

import json
import re
from dataclasses import replace
from types import SimpleNamespace

import pytest
from conftest import ByteTokenizer

from mosslite.cli import main
from mosslite.data.pack import ChatLogTokenizer
from mosslite.data.world import World, WorldConfig
from mosslite.experiments import tools as experiment


def test_smoke_run_writes_the_table_and_reuses_its_stages(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MOSSLITE_CACHE", str(tmp_path / "cache"))
    out, cache, lines = tmp_path / "out", tmp_path / "cache" / "tools", []
    results = experiment.run(experiment.SMOKE, out, cache=cache, say=lines.append)
    assert [r["task"] for r in results["rows"]] == ["facts", "arithmetic", "equations"]
    for row in results["rows"]:
        assert row["questions"] == experiment.SMOKE.questions
        assert 0 <= row["no_tools"] <= 1 and 0 <= row["tools"] <= 1 and 0 <= row["right_tool"] <= 1
    assert json.loads((out / "results.json").read_text())["rows"] == results["rows"]
    header = (out / "table.csv").read_text().splitlines()[0]
    assert header.startswith("task,questions,no_tools,no_tools_s,tools,tools_s,right_tool")
    examples = json.loads((out / "examples.json").read_text())
    assert {e["setting"] for e in examples} == {"no_tools", "tools"} and "commands" in examples[-1]["fields"]
    assert results["load"] and results["wall_s"] > 0

    assert main(["experiment", "tools", "--smoke", "--out", str(tmp_path / "out2")]) == 0  # the CLI, same cache
    printed = capsys.readouterr().out
    assert "reusing the base" in printed and "reusing the tool-tuned" in printed and "| arithmetic | 3 |" in printed
    assert (tmp_path / "out2" / "table.csv").is_file()
    shown = []
    assert experiment.load_or_run(experiment.SMOKE, out, say=shown.append)["rows"] == results["rows"]
    assert shown and "results of" in shown[0]


def oracle(tokenizer, questions, obey_meta: bool = True):
    """A scripted model: it writes each question's reference command when the meta instruction enables tools (or
    always, with obey_meta=False) and answers from the results; with no usable result it says it does not know."""
    commands = {q.en: q.command for q in questions}
    ends = {"<|Inner Thoughts|>:": "<eot>", "<|Commands|>:": "<eoc>", "<|MOSS|>:": "<eom>"}

    def answer(prompt: str) -> str:
        results = prompt.rsplit("<|Results|>:", 1)[1].split("<eor>")[0]
        if "Error:" in results or results.strip() == "None":
            return "I don't know."
        if "Calculate(" in results:
            return f"It is {results.rsplit('=>', 1)[1].strip()}."
        if "Solve(" in results:
            return "The numbers are " + " and ".join(re.findall(r"= (-?\d+)", results)) + "."
        return results.split("<|1|>:", 1)[1].split("\n")[0].split(". ", 1)[1]  # the first snippet's sentence

    def stream(model, prompt, max_new_tokens, **sampling):
        text = tokenizer.decode(prompt)
        header = next(h for h in ends if text.endswith(h))
        human = text.rsplit("<|Human|>: ", 1)[1].split("<eoh>")[0]
        use = "enabled. API" in text or not obey_meta
        if header == "<|Inner Thoughts|>:":
            out = "A tool will know." if use else "I have no tool."
        elif header == "<|Commands|>:":
            out = commands[human] if use else "None"
        else:
            out = answer(text)
        yield from tokenizer.encode(" " + out)
        yield tokenizer.special_tokens[ends[header]]

    return stream


@pytest.mark.parametrize("obey_meta", [True, False])
def test_the_harness_credits_tool_use_and_only_tool_use(obey_meta):
    world = World(WorldConfig(n_entities=24, heldout=0.3, zh_share=0.0))
    recipe = replace(experiment.SMOKE, questions=6, max_new_tokens=200)
    questions = [q for qs in experiment.task_questions(world, recipe).values() for q in qs]
    assert len(questions) == 18 and all(q.split == "B/search" for q in questions if q.kind == "fact")
    model = SimpleNamespace(config=SimpleNamespace(block_size=4096), eval=lambda: model)
    stream = oracle(ByteTokenizer(), questions, obey_meta)
    rows, examples = experiment.evaluate_tools(model, ByteTokenizer(), world, recipe, say=lambda _: None,
                                               token_stream=stream)
    for row in rows:  # the runtime refuses disabled tools, so calling them anyway gains nothing
        assert (row["tools"], row["no_tools"], row["right_tool"]) == (1.0, 0.0, 1.0), row
    refused = [e for e in examples if e["setting"] == "no_tools"]
    assert all(("disabled" in e["fields"]["results"]) != obey_meta for e in refused)


def test_arithmetic_is_scored_on_the_result_not_the_operands():
    from mosslite.evaluate import is_correct

    question = World(WorldConfig(n_entities=12)).arithmetic_questions(1)[0]
    a, op, b = re.fullmatch(r'Calculate\("(\d+)([-+*/])(\d+)"\)', question.command).groups()
    assert is_correct(f"{a} {op} {b} = {question.answer_en}.", question)
    assert is_correct(f"It is {question.answer_en}.", question)
    assert not is_correct(f"{a} {op} {b} = {int(question.answer_en) + 1}.", question)
    assert not is_correct(f"{question.answer_en} is not {a} {op} {b}", question)



def test_pretraining_transcripts_copy_numbers_and_leak_no_held_out_fact():
    from mosslite.tokenizer import train_tokenizer

    world = World(WorldConfig(n_entities=24, heldout=0.3, zh_share=0.1))
    documents = [d.text for d in world.documents()]
    texts = experiment.pretraining_texts(world, replace(experiment.SMOKE, transcripts=12, drills=3))
    assert texts[: len(documents)] == documents and len(texts) == len(documents) + 12 + 3
    for drill in "\n".join(texts[-3:]).splitlines():  # the second half repeats the first
        first, again = re.fullmatch(r"Copy: (.+)\. Again: (.+)\.", drill).groups()
        assert first == again
    texts = texts[:-3]
    for text in texts[len(documents):]:  # each call copies the question's numbers; no Search ever runs
        call = re.search(r'<\|Commands\|>: (?:Calculate|Solve)\("([^"]+)"\)<eoc>', text)
        human = text.split("<|Human|>: ")[1].split("<eoh>")[0]
        assert call and set(re.findall(r"\d+", call[1])) <= set(re.findall(r"\d+", human)), text
        assert "Search(" not in text.split("<|Human|>")[1]
    tokenizer = train_tokenizer(texts[-12:], vocab_size=300, backend="fast")
    ids = ChatLogTokenizer(tokenizer).encode(texts[-1])  # end tokens as the single ids SFT uses
    assert ids.count(tokenizer.special_tokens["<eoc>"]) == 1 and tokenizer.encode(texts[-1]) != ids


def test_syllable_pattern_cuts_names_into_shared_syllables_and_leaves_other_words_whole():
    import regex

    from mosslite.tokenizer import MOSSLITE_PATTERN, train_tokenizer

    pattern = experiment.syllable_pattern(MOSSLITE_PATTERN.replace(r" ?\p{N}{1,3}", r"\p{N}"))
    chunks = regex.compile(pattern).findall
    assert chunks('Which dish is Furemar known for? Search("dish of Tega Guild")') == [
        "Which", " dish", " is", " Fu", "re", "mar", " known", " for", "?", " Search", '("', "dish", " of", " Te", "ga",
        " Guild", '")']
    assert chunks("住在Lezoton。4421") == ["住在", "Le", "zo", "ton", "。", "4", "4", "2", "1"]
    world = World(WorldConfig(n_entities=24, heldout=0.3, zh_share=0.1))
    tokenizer = train_tokenizer([d.text for d in world.documents()], vocab_size=600, backend="fast", pattern=pattern)
    for entity in world.entities:  # BPE merges no name into one token: names share their syllables
        assert len(tokenizer.encode(" " + entity.name)) >= 2, entity.name
    with pytest.raises(ValueError, match="letter-run"):
        experiment.syllable_pattern(r"\p{L}+")


def test_copy_drills_with_invented_names_use_each_name_once_and_repeat_it():
    world = World(WorldConfig(n_entities=24))
    known = {e.name for e in world.entities} | {n for n, _ in world.bystanders}
    drills = "\n".join(experiment.copy_drills(world, 20, seed=0, new_names=0.5)).splitlines()
    new = []
    for drill in drills:
        first, again = re.fullmatch(r"Copy: (.+)\. Again: (.+)\.", drill).groups()
        assert first == again
        new += [item for item in first.split(", ") if not item.isdigit() and item not in known]
    assert new and len(set(new)) == len(new)  # invented names: none to recall, each copied once
    assert experiment.copy_drills(world, 20, seed=0) == experiment.copy_drills(world, 20, seed=0, new_names=0.0)
