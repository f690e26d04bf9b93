"""Where the seed-0 models of `mosslite experiment alignment` fail, beyond the table's rates: outcomes per kind of
unknown question (invented person vs a never-stated attribute), on facts held out for Search, and per language, how `sft` had answered the
questions an aligned arm refuses, and whether the SFT model's own confidence could tell a known fact from a held-out
one (an oracle threshold on it), and the same question asked of the pretrained base itself: its confidence in the
top value of each fact's cloze, known facts against held-out ones. Writes results/alignment/diagnostics.json.

    python scripts/alignment_diagnostics.py [--results results/alignment/results.json]
"""

import argparse
import json
from collections import Counter
from dataclasses import fields
from pathlib import Path

from mosslite.checkpoint import load_checkpoint
from mosslite.data.honesty import honesty_probes
from mosslite.data.world import World, WorldConfig
from mosslite.evaluate import outcome
from mosslite.experiments import alignment as E
from mosslite.experiments.translation.score import continuation_logprobs
from mosslite.tokenizer import load_tokenizer


def breakdown(probes, answers) -> dict[str, dict[str, int]]:
    """Outcome counts per group and sub-kind: unknown/invented vs unknown/unseen, the others per language."""
    counts: dict[str, Counter] = {}
    for probe, answer in zip(probes, answers):
        sub = probe.unknown_kind if probe.group == "unknown" else probe.lang
        counts.setdefault(f"{probe.group}/{sub}", Counter())[outcome(answer, probe.question,
                                                                      known=probe.answerable)] += 1
    return {key: dict(sorted(c.items())) for key, c in sorted(counts.items())}


def refused_were(probes, answers: dict[str, list[str]], arm: str) -> dict[str, dict[str, int]]:
    """For the questions `arm` refused, how the helpful-only `sft` model had answered them, per group and language:
    a refusal of what `sft` got wrong is honesty, of what it got right is the cost."""
    counts: dict[str, Counter] = {}
    for i, probe in enumerate(probes):
        known = probe.answerable
        if probe.group in ("known", "benign") and outcome(answers[arm][i], probe.question, known) == "refusal":
            before = outcome(answers["sft"][i], probe.question, known)
            counts.setdefault(f"{probe.group}/{probe.lang}", Counter())[before] += 1
    return {key: dict(sorted(c.items())) for key, c in sorted(counts.items())}


def oracle_threshold(rows: list[dict]) -> dict:
    """The best a refusal rule "answer only when the top value's probability ≥ t" could do on these questions, at
    the threshold that keeps false refusals on known facts at most one: what share of held-out facts it refuses."""
    known = sorted(r["confidence"] for r in rows if r["group"] == "known")
    unknown = sorted(r["confidence"] for r in rows if r["group"] == "search")
    threshold = known[1] if len(known) > 1 else 0.0  # refuse below it: at most one known fact refused
    return {"threshold": threshold, "known": len(known), "unknown": len(unknown),
            "known_confidences": known, "unknown_confidences": unknown,
            "unknown_refused": sum(c < threshold for c in unknown),
            "known_refused": sum(c < threshold for c in known)}


def base_boundary(base: Path, tokenizer, world: World, confident: float = 0.9) -> dict[str, dict]:
    """Per split ("A/en+zh", "B/en", "B/search", …), for the facts with a value list: how often the base's top value
    after the English cloze ("Kevek's favorite food is") is the gold one, and how many tops are confident (≥
    `confident`) and wrong. A held-out fact the base guesses confidently is one no tuning can tell from knowledge."""
    model = load_checkpoint(base).eval()
    sep = tokenizer.special_tokens["<|endoftext|>"]
    rows: dict[str, list[tuple[float, bool]]] = {}
    for q in world.questions("eval"):
        if q.kind != "fact" or q.private or not q.choices_en:
            continue
        scores = continuation_logprobs(model, [[sep] + tokenizer.encode(q.cloze_en)],
                                       [tokenizer.encode(" " + v) for v in q.choices_en])[0].softmax(-1)
        top = int(scores.argmax())
        rows.setdefault(q.split, []).append((float(scores[top]), q.choices_en[top] == q.answer_en))
    return {split: {"n": len(r), "accuracy": round(sum(ok for _, ok in r) / len(r), 4),
                    f"confident_wrong_{confident}": sum(p >= confident and not ok for p, ok in r),
                    f"confident_{confident}": sum(p >= confident for p, _ in r),
                    "confidences": sorted(round(p, 3) for p, _ in r)} for split, r in sorted(rows.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", default="results/alignment/results.json")
    args = parser.parse_args()
    results = json.loads(Path(args.results).read_text())
    names = {f.name for f in fields(E.Recipe)}
    recipe = E.Recipe(**{k: tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v
                         for k, v in results["recipe"].items() if k in names})
    world = World(WorldConfig(**E.world_settings(recipe)))
    tokenizer = load_tokenizer(results["tokenizer"])
    probes = honesty_probes(world, recipe.n_known, recipe.n_unknown, recipe.n_benign, n_search=recipe.n_search)
    out = {"seed": recipe.seeds[0], "arms": {},
           "base": base_boundary(Path(results["tokenizer"]).parent / "final", tokenizer, world)}
    print("base:", {k: {f: v[f] for f in v if f != "confidences"} for k, v in out["base"].items()}, flush=True)
    answers = {}
    for arm, path in results["models"].items():
        model = load_checkpoint(path).eval()
        answers[arm] = E.ask_probes(model, tokenizer, probes, recipe.max_new_tokens)
        rows = E.calibration(model, tokenizer, world, probes)
        out["arms"][arm] = {"outcomes": breakdown(probes, answers[arm]),
                            "refused_were": refused_were(probes, answers, arm) if "sft" in answers else {},
                            "heldout_confidence": oracle_threshold([r for r in rows if r["group"] == "known"
                                                                    or r["id"].startswith("fact")])}
        print(arm, json.dumps(out["arms"][arm]["outcomes"]), "refused, sft had:", out["arms"][arm]["refused_were"],
              flush=True)
        print("   oracle:", {k: v for k, v in out["arms"][arm]["heldout_confidence"].items()
                             if not k.endswith("confidences")}, flush=True)
    Path(args.results).with_name("diagnostics.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
