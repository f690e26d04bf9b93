"""Tool use, measured: a small model with Search, Calculate and Solve against the same model without them.

A base is pretrained on the bilingual world, where a share of facts is held out of pretraining altogether (only the
Search index has them), plus copy-rich text (Calculate/Solve transcripts, copy drills) so that it learns to copy;
then it is tuned on MOSS plugin dialogues: Search about entities invented for each dialogue (nothing to recall: the
name must be copied into the query and the value out of the results), Calculate for 3-4 digit word problems, Solve
for equations, plain chat with tools off. The evaluation asks three kinds of question in fresh
conversations, once with every tool enabled (meta instruction and runtime) and once with none:

    facts       held out of pretraining and of SFT (group B, exposure "search"): memory cannot answer them
    arithmetic  3-4 digit word problems (a 4-digit times 2-digit product, …): exact, or wrong
    equations   a linear equation or a 2x2 system with whole-number answers

    mosslite experiment tools                 # 14 CPU-minutes (19 min wall on 2 shared cores, load 2-3); results/tools/
    mosslite experiment tools --smoke         # seconds: the same pipeline at toy size, for tests
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from mosslite.experiments.stages import load_average as _load
from mosslite.experiments.stages import stage_done as _cached
from mosslite.experiments.stages import stage_key

TASKS = ("facts", "arithmetic", "equations")
ALL_TOOLS = ("Search", "Calculate", "Solve")
TOKENIZER_KINDS = ("search", "calculate", "solve", "search", "fact")  # every tool's call, and plain chat


@dataclass(frozen=True)
class Recipe:
    """Every size of the experiment: `DEFAULT` is the one `mosslite experiment tools` runs, `SMOKE` shrinks it to
    seconds. The fields default to a base of world text alone (other experiments pretrain their bases here)."""

    entities: int = 60  # facts of about 30 of them are group B; 30% of all facts are held out for Search
    heldout: float = 0.3
    docs_per_fact: int = 40  # about 150k tokens of pretraining text
    zh_share: float = 0.05
    vocab_size: int = 2048
    split_digits: bool = True  # one token per digit, so copying a number into a call is copying ten tokens
    # names cut into syllables ("Fu" "re" "mar"), a few dozen tokens shared by every name, as digits are by numbers:
    # copying a name is then copying frequent tokens, not one rare token per name
    name_syllables: bool = False
    preset: str = "tiny"
    # the output layer shares the token embeddings, so one attention head's value-output map near the identity
    # copies every token at once; untied, copying is a mapping learned token by token (easy for 10 digits only)
    tie_embeddings: bool = False
    block_size: int = 512  # a Chinese Search turn with three snippets and the meta instruction needs about 400
    pretrain_context: int = 256  # rotary positions carry over: SFT then trains on the full block_size
    pretrain_steps: int = 800
    pretrain_batch: int = 8
    pretrain_lr: float = 2e-3
    # Calculate and Solve transcripts (fresh random numbers) mixed into pretraining: text where copying a number
    # from earlier in the context predicts the next tokens, so the base learns to copy before SFT asks it to.
    transcripts: int = 0
    drills: int = 0  # documents of copy drills ("Copy: 6063, Furemar. Again: 6063, Furemar."), 8 drills each
    drill_new_names: float = 0.0  # share of the drills' names that are invented (in no other text): copy, not recall
    tokenizer_kinds: tuple[str, ...] | None = None  # the dialogues the BPE is trained on; None: `kinds`
    dialogues: int = 3000
    # Search for any group-A fact whenever Search is on (a rule a small model can learn), Calculate, Solve, and
    # plain chat with tools off; lookups twice, so 40% of the dialogues teach copying a name into a query.
    kinds: tuple[str, ...] = ("lookup", "calculate", "solve", "lookup", "fact")
    sft_steps: int = 1200
    sft_lr: float = 2e-3
    batch_size: int = 8  # SFT conversations per step
    questions: int = 40  # per task
    max_new_tokens: int = 32  # per field: the longest answer (a Search answer with its citation) is about 25
    seed: int = 0

    @property
    def scaffold_kinds(self) -> tuple[str, ...]:
        return self.tokenizer_kinds or self.kinds


# Search is taught on invented entities, one dialogue each ("fresh"): a name and a value no memory holds, so the
# query must copy the name from the question and the answer the value from the results; 20,000 dialogues, so that
# 2,400 steps of 8 see each about once (an entity seen many times is recalled, not copied).
FRESH_KINDS = ("fresh", "calculate", "solve", "fresh", "fact")
DEFAULT = Recipe(transcripts=3000, drills=3000, tokenizer_kinds=TOKENIZER_KINDS, name_syllables=True,
                 drill_new_names=0.5, tie_embeddings=True, kinds=FRESH_KINDS, dialogues=20000, sft_steps=2400)
SMOKE = Recipe(entities=12, docs_per_fact=40, vocab_size=512, preset="toy", pretrain_steps=4, pretrain_batch=4,
               transcripts=20, drills=10, dialogues=60, sft_steps=4, batch_size=4, questions=3, max_new_tokens=8,
               name_syllables=True, drill_new_names=0.5, tie_embeddings=True, kinds=FRESH_KINDS)


def world_settings(recipe: Recipe) -> dict:
    """The WorldConfig fields pretraining, SFT, the Search index and the questions all share."""
    return {"seed": recipe.seed, "n_entities": recipe.entities, "heldout": recipe.heldout,
            "zh_share": recipe.zh_share, "docs_per_fact": recipe.docs_per_fact}


def _key(recipe: Recipe, fields: tuple[str, ...]) -> str:
    # fields added later join the key only when set, so the caches of recipes made before them stay valid
    parts = [getattr(recipe, f) for f in fields if f not in LATER_FIELDS]
    parts += [f"{f}={getattr(recipe, f)}" for f in fields if f in LATER_FIELDS and getattr(recipe, f) != getattr(Recipe, f)]
    return stage_key(*parts)


LATER_FIELDS = ("name_syllables", "drill_new_names", "tie_embeddings")


BASE_FIELDS = ("entities", "heldout", "docs_per_fact", "zh_share", "vocab_size", "split_digits", "preset", "block_size",
               "pretrain_context", "pretrain_steps", "pretrain_batch", "pretrain_lr", "transcripts", "drills",
               "scaffold_kinds", "seed") + LATER_FIELDS
SFT_FIELDS = BASE_FIELDS + ("kinds", "dialogues", "sft_steps", "sft_lr", "batch_size")


def build_tokenizer(world, recipe: Recipe, folder: Path, extra_texts: Sequence[str] = ()) -> None:
    """BPE on the pretraining text (with `extra_texts`, documents another experiment adds) plus rendered plugin
    dialogues, so the meta instruction, role headers and tool calls get tokens of their own (75 instead of 179 for
    the compact meta instruction with three tools; 87 with `name_syllables`)."""
    from mosslite.chat import COMPACT_META
    from mosslite.tokenizer import MOSSLITE_PATTERN, train_tokenizer
    from mosslite.train.sft_data import world_conversation

    # mosslite's pattern groups digits in threes with a leading space (" 606" "3"), so the "6063" inside a
    # Calculate("…") call is made of other tokens than the " 6063" of the question; single digits copy as they are.
    pattern = MOSSLITE_PATTERN.replace(r" ?\p{N}{1,3}", r"\p{N}") if recipe.split_digits else MOSSLITE_PATTERN
    pattern = syllable_pattern(pattern) if recipe.name_syllables else pattern
    documents = [doc.text for doc in world.documents()] + list(extra_texts)
    dialogues = world.dialogues(60, ("en", "zh"), recipe.scaffold_kinds, salt="tokenizer")
    scaffold = [world_conversation(d, COMPACT_META).render() for d in dialogues]
    train_tokenizer(documents + scaffold * 20, vocab_size=recipe.vocab_size, backend="fast",
                    pattern=pattern).save(folder)


_CONSONANT = r"[^aeiouAEIOU\s\p{N}\p{Han}\p{P}\p{S}]"
_SYLLABLE = rf"{_CONSONANT}*[aeiou]+(?:{_CONSONANT}+(?![aeiou]))?"  # consonants, vowels, a coda before no vowel


def syllable_pattern(pattern: str) -> str:
    """`pattern` (mosslite's) with capitalised words cut into syllables, " Furemar" -> " Fu" "re" "mar", so BPE can
    merge no name into a token of its own; other words stay whole ("The", " famous"). The lookbehind keeps the cut
    inside the capitalised word: a lowercase run only starts a chunk of its own right after a letter."""
    letters = r"| ?[^\s\p{N}\p{Han}\p{P}\p{S}]+"
    if letters not in pattern:
        raise ValueError("syllable_pattern: the pattern has no letter-run alternative to put the syllables before")
    syllables = rf"| ?\p{{Lu}}{_SYLLABLE}|(?<=\p{{L}}){_SYLLABLE}|(?<=\p{{L}}){_CONSONANT}+"
    return pattern.replace(letters, syllables + letters, 1)


TRANSCRIPT_KINDS = ("calculate", "solve")


def pretraining_texts(world, recipe: Recipe) -> list[str]:
    """The world's documents, then `recipe.transcripts` rendered Calculate/Solve dialogues (their own random
    numbers: no SFT or evaluation problem among them, and no Search, so no held-out fact reaches pretraining)."""
    from mosslite.chat import COMPACT_META
    from mosslite.train.sft_data import world_conversation

    dialogues = world.dialogues(recipe.transcripts, ("en", "zh"), TRANSCRIPT_KINDS, salt="pretrain") \
        if recipe.transcripts else []
    return ([doc.text for doc in world.documents()] + [world_conversation(d, COMPACT_META).render() for d in dialogues]
            + copy_drills(world, recipe.drills, recipe.seed, recipe.drill_new_names))


def copy_drills(world, n: int, seed: int, new_names: float = 0.0) -> list[str]:
    """`n` documents of eight drills each: a list of random numbers and the world's names, then the same list again.
    Only copying predicts the second half, so the base learns to copy names and digits (names only: no facts).
    A share `new_names` of the names are invented, each used once, so no name can be predicted but by copying."""
    import random

    from mosslite.data.world import _NameMaker

    rng = random.Random(f"drills-{seed}")
    names = [e.name for e in world.entities] + [name for name, _ in world.bystanders]
    maker = _NameMaker(random.Random(f"drill-names-{seed}"))
    maker.used = set(names)

    def name() -> str:
        return maker.make(rng.choice(("person", "city", "object")))[0] if rng.random() < new_names else rng.choice(names)

    item = lambda: name() if rng.random() < 0.4 else str(rng.randint(1, 10 ** rng.randint(1, 4)))  # noqa: E731
    documents = []
    for _ in range(n):
        drills = [", ".join(item() for _ in range(rng.randint(1, 5))) for _ in range(8)]
        documents.append("\n".join(f"Copy: {items}. Again: {items}." for items in drills))
    return documents


def pretrained_base(recipe: Recipe, world, cache: Path, say=print,
                    extra_texts: Sequence[str] = ()) -> tuple[Path, Path, dict]:
    """(checkpoint folder, tokenizer folder, info) of the base, pretrained once per recipe and kept in `cache`;
    `extra_texts` join the pretraining (and tokenizer) text, and the caller's `cache` must name them."""
    from mosslite.data.pack import ChatLogTokenizer, pack
    from mosslite.tokenizer import load_tokenizer
    from mosslite.train import PretrainConfig, pretrain

    folder = cache / f"base-{_key(recipe, BASE_FIELDS)}"
    info = _cached(folder)
    if info is not None:
        say(f"[pretrain] reusing the base in {folder} (trained in {info['wall_s']:.0f} s)")
        return folder / "final", folder / "tokenizer", info
    shutil.rmtree(folder, ignore_errors=True)
    start, cpu = time.perf_counter(), time.process_time()
    build_tokenizer(world, recipe, folder / "tokenizer", extra_texts)
    tokenizer = load_tokenizer(folder / "tokenizer")
    packed = pack(pretraining_texts(world, recipe) + list(extra_texts), ChatLogTokenizer(tokenizer), folder / "data",
                  val_fraction=0.05, seed=recipe.seed, progress=False)
    steps, lr = recipe.pretrain_steps, recipe.pretrain_lr
    config = PretrainConfig(name="tools-base", out_dir=str(folder), model=recipe.preset, seed=recipe.seed,
                            model_args={"block_size": recipe.block_size,
                                        **({"tie_embeddings": True, "lm_head_bias": False} if recipe.tie_embeddings else {})},
                            data_dir=str(folder / "data"),
                            tokenizer_dir=str(folder / "tokenizer"), block_size=recipe.pretrain_context,
                            batch_size=recipe.pretrain_batch, max_steps=steps, lr=lr, min_lr=lr / 10,
                            warmup_steps=max(1, steps // 20), val_every=steps, val_batches=2, ckpt_every=steps,
                            log_every=max(1, steps // 10), progress_bar=False)
    result = pretrain(config, quiet=True)
    shutil.rmtree(folder / "checkpoints", ignore_errors=True)
    h = result.history
    info = {"wall_s": round(time.perf_counter() - start, 1), "cpu_s": round(time.process_time() - cpu, 1),
            "tokens": packed["tokens"], "load": _load(),
            "train_loss": [round(h.train[0][1], 3), round(h.train[-1][1], 3)],
            "val_loss": round(h.val[-1][1], 3) if h.val else None}
    (folder / "done.json").write_text(json.dumps(info))
    say(f"[pretrain] {recipe.preset} on {packed['tokens']:,} tokens of the world, {steps} steps: loss "
        f"{info['train_loss'][0]:.2f} -> {info['train_loss'][1]:.2f} in {info['wall_s']:.0f} s")
    return folder / "final", folder / "tokenizer", info


def tool_sft(recipe: Recipe, base: Path, tokenizer_dir: Path, cache: Path, say=print) -> tuple[Path, dict]:
    """(final folder, info) of the base fine-tuned on plugin dialogues by mosslite.train.sft, cached like the base."""
    from mosslite.train.sft import sft
    from mosslite.train.sft_config import SFTConfig

    folder = cache / f"sft-{_key(recipe, SFT_FIELDS)}"
    info = _cached(folder)
    if info is not None:
        say(f"[sft] reusing the tool-tuned model in {folder} (tuned in {info['wall_s']:.0f} s)")
        return folder / "final", info
    shutil.rmtree(folder, ignore_errors=True)
    steps, cpu = recipe.sft_steps, time.process_time()
    config = SFTConfig(name="tools-sft", out_dir=str(folder), seed=recipe.seed, base=str(base),
                       tokenizer_dir=str(tokenizer_dir), world=world_settings(recipe),
                       world_dialogues=recipe.dialogues, world_languages=["en", "zh"],
                       world_kinds=list(recipe.kinds), meta="compact", block_size=recipe.block_size,
                       batch_size=recipe.batch_size, max_steps=steps, lr=recipe.sft_lr, min_lr=recipe.sft_lr / 10,
                       warmup_steps=max(1, steps // 10), val_every=steps, val_batches=2, ckpt_every=steps,
                       log_every=max(1, steps // 10), progress_bar=False)
    result = sft(config, quiet=True)
    shutil.rmtree(folder / "checkpoints", ignore_errors=True)
    h, data = result.history, result.data
    info = {"wall_s": round(result.wall_time, 1), "cpu_s": round(time.process_time() - cpu, 1), "load": _load(),
            "dialogues": data.train,
            "mean_tokens": round(data.mean_tokens), "too_long": data.too_long,
            "train_loss": [round(h.train[0][1], 3), round(h.train[-1][1], 3)],
            "val_loss": round(h.val[-1][1], 3) if h.val else None}
    (folder / "done.json").write_text(json.dumps(info))
    say(f"[sft] {steps} steps on {data.train:,} dialogues ({', '.join(recipe.kinds)}; {data.mean_tokens:.0f} tokens "
        f"each): assistant-token loss {info['train_loss'][0]:.2f} -> {info['train_loss'][1]:.2f} in "
        f"{result.wall_time:.0f} s" + (f"; {data.too_long} too long for the context" if data.too_long else ""))
    return folder / "final", info


def task_questions(world, recipe: Recipe) -> dict:
    """The evaluation questions of each task (see the module docstring)."""
    facts = [q for q in world.questions() if q.split == "B/search"]
    return {"facts": facts[: recipe.questions], "arithmetic": world.arithmetic_questions(recipe.questions),
            "equations": world.equation_questions(recipe.questions)}


def assistant_for(model, tokenizer, world, tools: tuple[str, ...], max_new_tokens: int, token_stream=None):
    """A greedy Assistant with `tools` enabled both in its meta instruction and in its runtime toolbox
    (`token_stream` replaces generate.stream, as the server's batching engine or a test's script does)."""
    from mosslite.assistant import Assistant
    from mosslite.chat import COMPACT_META
    from mosslite.generate import SamplingConfig

    toolbox = replace(world.toolbox(), enabled=tools)
    extra = {"token_stream": token_stream} if token_stream else {}
    return Assistant(model.eval(), tokenizer, toolbox=toolbox, meta=replace(COMPACT_META, tools=tools),
                     sampling=SamplingConfig(temperature=0.0), max_new_tokens=max_new_tokens, **extra)


def evaluate_tools(model, tokenizer, world, recipe: Recipe, say=print,
                   token_stream=None) -> tuple[list[dict], list[dict]]:
    """Each task with every tool and with none: (table rows, example records with the whole turn)."""
    from mosslite.evaluate import ask

    rows, examples = [], []
    for task, questions in task_questions(world, recipe).items():
        row = {"task": task, "questions": len(questions)}
        for setting, tools in (("no_tools", ()), ("tools", ALL_TOOLS)):
            clock = time.perf_counter()
            assistant = assistant_for(model, tokenizer, world, tools, recipe.max_new_tokens, token_stream)
            evaluation = ask(assistant, questions)
            row[setting] = round(evaluation.accuracy, 4)
            row[f"{setting}_s"] = round(time.perf_counter() - clock, 1)
            if setting == "tools":  # how often the model called the right tool, whatever came of it
                wanted = {"facts": "Search(", "arithmetic": "Calculate(", "equations": "Solve("}[task]
                row["right_tool"] = round(sum(r.fields.get("commands", "").startswith(wanted) for r in evaluation.records)
                                          / max(len(questions), 1), 4)
            examples += [{"task": task, "setting": setting, **asdict(r)} for r in evaluation.records[:3]]
        row["ratio"] = round(row["tools"] / row["no_tools"], 2) if row["no_tools"] else None
        rows.append(row)
        say(f"[eval] {task:<10} no tools {row['no_tools']:6.1%}   with tools {row['tools']:6.1%}   "
            f"(right tool called {row['right_tool']:.0%}, {len(questions)} questions)")
    return rows, examples


def format_table(rows: list[dict]) -> str:
    lines = ["| task | questions | no tools | with tools | right tool called |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['task']} | {r['questions']} | {r['no_tools']:.0%} | {r['tools']:.0%} | "
                     f"{r['right_tool']:.0%} |")
    return "\n".join(lines)


def run(recipe: Recipe, out: Path, cache: Path | None = None, say=print) -> dict:
    """Pretrain (or reuse) the base, tool-tune it, evaluate with and without tools; writes results.json,
    table.csv and examples.json to `out` and returns the results."""
    from mosslite import cache_dir
    from mosslite.checkpoint import load_checkpoint
    from mosslite.data.world import World, WorldConfig
    from mosslite.tokenizer import load_tokenizer

    start, cpu_start, load_start = time.perf_counter(), time.process_time(), _load()
    out.mkdir(parents=True, exist_ok=True)
    cache = cache or Path(cache_dir()) / "tools"
    world = World(WorldConfig(**world_settings(recipe)))
    say(f"[world] {world.summary()['facts']} facts, exposure {world.summary()['exposure']}; load {load_start}")
    base, tokenizer_dir, base_info = pretrained_base(recipe, world, cache, say)
    final, sft_info = tool_sft(recipe, base, tokenizer_dir, cache, say)
    model, tokenizer = load_checkpoint(final), load_tokenizer(tokenizer_dir)
    rows, examples = evaluate_tools(model, tokenizer, world, recipe, say)
    results = {"recipe": asdict(recipe), "rows": rows, "pretrain": base_info, "sft": sft_info, "model": str(final),
               "wall_s": round(time.perf_counter() - start, 1), "cpu_s": round(time.process_time() - cpu_start, 1),
               "load": [load_start, _load()], "cpus": os.cpu_count(), "torch_threads": _threads()}
    (out / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))
    (out / "examples.json").write_text(json.dumps(examples, indent=1, ensure_ascii=False))
    with (out / "table.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    say(format_table(rows))
    say(f"[done] {results['wall_s']:.0f} s wall ({results['cpu_s']:.0f} s CPU), load {results['load']}; "
        f"results in {out}/")
    return results


def load_or_run(recipe: Recipe, out: Path, say=print) -> dict:
    """The results in `out` when they were made with `recipe` and its tuned model is still cached; else `run`.
    The notebook calls this, so it shows the table `mosslite experiment tools` wrote without redoing the work."""
    path = out / "results.json"
    if path.is_file():
        results = json.loads(path.read_text())
        if results["recipe"] == json.loads(json.dumps(asdict(recipe))) and Path(results["model"]).is_dir():
            say(f"[tools] results of {path} (measured {results['wall_s']:.0f} s wall, load {results['load']})")
            return results
    return run(recipe, out, say=say)


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=None, help="results folder (default results/tools, smoke: runs/tools-smoke)")
    parser.add_argument("--questions", type=int, default=None, help="questions per task (default 50)")
    parser.add_argument("--sft-steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--smoke", action="store_true", help="toy sizes, seconds (also: MOSSLITE_SMOKE=1)")


def main(args: argparse.Namespace) -> int:
    from mosslite import is_smoke

    smoke = args.smoke or is_smoke()
    recipe = SMOKE if smoke else DEFAULT
    changes = {k: getattr(args, k) for k in ("questions", "sft_steps", "seed") if getattr(args, k) is not None}
    recipe = replace(recipe, **changes)
    run(recipe, Path(args.out or ("runs/tools-smoke" if smoke else "results/tools")))
    return 0
