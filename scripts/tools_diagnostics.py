"""Where a tool-use run's facts go wrong: the query, or the reading (chapter 7, results/tools/earlier/probes/).

For the model of a finished `mosslite experiment tools` run (its results.json), on the held-out facts: how many
queries are exactly the reference call, how many of those are answered right, how many answers are right when the
runtime forces the reference thought and query (only reading is left), and the same model on questions about entities
invented for this check (new names: copying is the only way). Greedy, all tools on, as the evaluation.

    python scripts/tools_diagnostics.py results/tools [--out diagnostics.json]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path


def diagnose(results_dir: Path, invented: int = 40) -> dict:
    """The counts described in the module docstring, for the run in `results_dir`."""
    from mosslite.chat import Turn
    from mosslite.checkpoint import load_checkpoint
    from mosslite.data.world import World, WorldConfig
    from mosslite.evaluate import is_correct
    from mosslite.experiments import tools as experiment
    from mosslite.tokenizer import load_tokenizer

    results = json.loads((results_dir / "results.json").read_text())
    recipe = experiment.Recipe(**{k: tuple(v) if isinstance(v, list) else v for k, v in results["recipe"].items()})
    model, tokenizer = load_checkpoint(results["model"]), load_tokenizer(results["model"])
    world = World(WorldConfig(**experiment.world_settings(recipe)))
    questions = experiment.task_questions(world, recipe)
    assistant = experiment.assistant_for(model, tokenizer, world, experiment.ALL_TOOLS, recipe.max_new_tokens)
    facts = {f"fact-{f.id}": f for f in world.facts}
    out = {"questions": len(questions["facts"]), "exact_query": 0, "right_given_exact": 0, "reading": 0}
    for q in questions["facts"]:
        turn = assistant.reply(assistant.new_conversation(), q.en)
        exact = turn.commands == q.command
        out["exact_query"] += exact
        out["right_given_exact"] += exact and is_correct(turn.moss, q)
        forced = Turn(human=q.en, moss="", inner_thoughts=world._thought(facts[q.id], "en", None), commands=q.command)
        forced.results = assistant.toolbox.run_all(q.command)
        conversation = assistant.new_conversation()
        conversation.turns.append(forced)
        answer = "".join(assistant._generate_field(conversation, "moss")).strip()
        out["reading"] += is_correct(answer, q)
    for task in ("arithmetic", "equations"):
        out[f"exact_calls_{task}"] = sum(assistant.reply(assistant.new_conversation(), q.en).commands == q.command
                                         for q in questions[task])
    new = world.invented(invented, salt="diagnostics")
    fresh = experiment.assistant_for(model, tokenizer, new, experiment.ALL_TOOLS, recipe.max_new_tokens)
    out["invented_questions"] = out["invented_exact_query"] = out["invented_value_in_answer"] = 0
    for fact in new.facts[len(world.facts):]:
        turn = fresh.reply(fresh.new_conversation(), new.question_text(fact, "en"))
        out["invented_questions"] += 1
        out["invented_exact_query"] += turn.commands == f'Search("{new.search_query(fact, "en")}")'
        out["invented_value_in_answer"] += re.search(rf"\b{re.escape(fact.value_en)}\b", turn.moss) is not None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, help="folder with the run's results.json (e.g. results/tools)")
    parser.add_argument("--out", type=Path, default=None, help="also write the counts to this JSON file")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    counts = diagnose(args.results)
    print(json.dumps(counts, indent=1))
    if args.out:
        args.out.write_text(json.dumps(counts, indent=1))


if __name__ == "__main__":
    main()
