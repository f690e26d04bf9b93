"""`mosslite quickstart`: the whole MOSS pipeline at toy scale on a CPU, each stage one library call.

data (the bilingual world) → tokenizer → pretraining → instruction tuning → a chat → an evaluation. The evaluation asks
about held-out facts: facts of group-B entities, which pretraining states in English and SFT never mentions. The
tuned model can only answer them by retrieving what pretraining stored, through the chat format SFT taught it on
other entities; the base model gets the same prompts for comparison.

`Recipe` holds every size; the default fits in about ten minutes on two CPU cores, `SMOKE` in seconds (tests, CI).
The stages are separate functions so notebooks and experiments can rerun one of them.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

from mosslite import is_smoke


@dataclass(frozen=True)
class Recipe:
    """Every size of the quickstart; `SMOKE` shrinks it to seconds."""

    entities: int = 60  # people, organisations, animals and objects of the world (half of each kind is group B)
    docs_per_fact: int = 100  # English documents stating each fact: repetition is what lets a small model memorise
    en_qa: float = 0.2  # share of English fact lines preceded by their question (FAQ style)
    zh_share: float = 0.05  # of the pretraining text, about group A only
    vocab_size: int = 2048
    preset: str = "tiny"
    block_size: int = 256
    batch_size: int = 8
    steps: int = 1000
    lr: float = 3e-3
    dialogues: int = 2000  # SFT dialogues about group-A facts, English and Chinese
    sft_batch_size: int = 16
    sft_steps: int = 300
    # LoRA (rank 8 on every linear layer) leaves the pretrained weights, and the facts stored in them, untouched;
    # full fine-tuning on group-A facts overwrites what group B needs (benchmarks/sft_lora_vs_full.py).
    finetune: str = "lora"
    lora_lr: float = 5e-3  # adapters start at zero and are few: they take a larger rate
    full_lr: float = 1e-3
    questions: int | None = None  # held-out questions to score (group B, asked in English); None = all of them
    max_new_tokens: int = 32  # per field of an answer


SMOKE = Recipe(entities=12, docs_per_fact=100, vocab_size=512, preset="toy", block_size=384, batch_size=4, steps=8,
               dialogues=40, sft_batch_size=8, sft_steps=4, questions=4, max_new_tokens=8)


def world_settings(recipe: Recipe, seed: int) -> dict:
    """The WorldConfig both pretraining and SFT use (no facts held out for Search: every fact is pretrained)."""
    return {"seed": seed, "n_entities": recipe.entities, "zh_share": recipe.zh_share, "heldout": 0.0,
            "en_qa": recipe.en_qa}


def sft_config(recipe: Recipe, out: Path, seed: int, base: Path, tokenizer_dir: Path):
    """The fine-tuning run: world dialogues (English and Chinese) under the compact meta instruction."""
    from mosslite.train.sft_config import SFTConfig

    lr = recipe.lora_lr if recipe.finetune == "lora" else recipe.full_lr
    return SFTConfig(name="quickstart", out_dir=str(out / "sft"), seed=seed, base=str(base),
                     tokenizer_dir=str(tokenizer_dir), world=world_settings(recipe, seed),
                     world_dialogues=recipe.dialogues, meta="compact", block_size=recipe.block_size,
                     finetune=recipe.finetune, batch_size=recipe.sft_batch_size, max_steps=recipe.sft_steps,
                     lr=lr, min_lr=lr / 10, warmup_steps=max(1, recipe.sft_steps // 10),
                     val_every=recipe.sft_steps, ckpt_every=recipe.sft_steps,
                     log_every=max(1, recipe.sft_steps // 10), progress_bar=False)


def prepare(recipe: Recipe, out: Path, seed: int) -> tuple[Path, Path]:
    """The world's pretraining text, packed, and a BPE trained on it plus the rendered SFT conversations (so the
    role headers and the meta instruction are a few tokens each); returns (data_dir, tokenizer_dir)."""
    from mosslite.train.data import prepare_data
    from mosslite.train.sft_data import load_conversations

    knobs = {**world_settings(recipe, seed), "docs_per_fact": recipe.docs_per_fact}
    spec = "world:" + ",".join(f"{k}={v}" for k, v in knobs.items())
    chats = [c.render() for _, c in load_conversations(sft_config(recipe, out, seed, Path(), Path()))[:500]]
    return prepare_data(out / "data", shares={spec: 1.0}, total_units=None, vocab_size=recipe.vocab_size, seed=seed,
                        tokenizer_texts=chats)


def pretrain_base(recipe: Recipe, out: Path, seed: int, data_dir: Path, tokenizer_dir: Path):
    """Pretrain the base model on the world's text; returns mosslite.train's PretrainResult."""
    from mosslite.train import PretrainConfig, pretrain

    config = PretrainConfig(name="quickstart", out_dir=str(out / "pretrain"), model=recipe.preset, seed=seed,
                            model_args={"block_size": recipe.block_size},  # room for a chat turn
                            data_dir=str(data_dir), tokenizer_dir=str(tokenizer_dir), block_size=recipe.block_size,
                            batch_size=recipe.batch_size, max_steps=recipe.steps, lr=recipe.lr, min_lr=recipe.lr / 10,
                            warmup_steps=max(1, recipe.steps // 20), val_every=recipe.steps, ckpt_every=recipe.steps,
                            log_every=max(1, recipe.steps // 10), progress_bar=False)
    return pretrain(config, quiet=True)


def held_out_questions(recipe: Recipe, seed: int) -> list:
    """Questions about group-B facts (pretrained in English, never in SFT), in the world's fixed order."""
    from mosslite.data.world import World, WorldConfig

    questions = [q for q in World(WorldConfig(**world_settings(recipe, seed))).questions() if q.split == "B/en"]
    return questions[: recipe.questions] if recipe.questions else questions


def run(recipe: Recipe, out: Path, seed: int = 0, say=print) -> dict:
    """Run every stage into `out`, printing as it goes; returns the figures (times, losses, accuracies)."""
    start = time.perf_counter()
    from mosslite.assistant import Assistant
    from mosslite.chat import COMPACT_META
    from mosslite.checkpoint import load_checkpoint
    from mosslite.data.world import World, WorldConfig
    from mosslite.evaluate import evaluate
    from mosslite.generate import SamplingConfig
    from mosslite.tokenizer import load_tokenizer
    from mosslite.train.sft import sft

    figures: dict = {}
    world = World(WorldConfig(**world_settings(recipe, seed)))
    data_dir, tokenizer_dir = prepare(recipe, out, seed)
    tokenizer = load_tokenizer(tokenizer_dir)
    say(f"[data] the bilingual world: {world.summary()['facts']} facts about {recipe.entities} entities, each stated "
        f"in {recipe.docs_per_fact} English documents, {100 * recipe.zh_share:.0f}% Chinese text -> {data_dir}")
    say(f"[tokenizer] byte-level BPE, {tokenizer.vocab_size:,} tokens (learnt from the pretraining text and the "
        f"chat format) -> {tokenizer_dir}")
    figures["data_s"] = time.perf_counter() - start

    result = pretrain_base(recipe, out, seed, data_dir, tokenizer_dir)
    h = result.history
    figures["pretrain_s"] = result.wall_time
    say(f"[pretrain] {recipe.preset}: {recipe.steps} steps in {result.wall_time:.0f} s; loss {h.train[0][1]:.2f} at "
        f"step 1 -> validation loss {h.val[-1][1]:.2f} (uniform guessing: {math.log(tokenizer.vocab_size):.2f})")

    tuned_run = sft(sft_config(recipe, out, seed, result.final_dir, tokenizer_dir), quiet=True)
    h = tuned_run.history
    figures["sft_s"] = tuned_run.wall_time
    trained = (f"LoRA, {tuned_run.trainable_parameters:,} adapter weights on a frozen base of "
               f"{tuned_run.total_parameters:,}" if recipe.finetune == "lora" else "full fine-tuning")
    say(f"[sft] {trained}: {tuned_run.data.train:,} dialogues about group-A entities (English and Chinese, loss "
        f"on the assistant's words only), {recipe.sft_steps} steps in {tuned_run.wall_time:.0f} s; assistant-token "
        f"loss {h.train[0][1]:.2f} -> {h.train[-1][1]:.2f}; merged into a plain checkpoint")

    base_model, tuned = load_checkpoint(result.final_dir).eval(), load_checkpoint(tuned_run.final_dir).eval()
    held_out = held_out_questions(recipe, seed)
    seen_zh = next(q for q in world.questions() if q.split == "A/en+zh" and q.sft)
    assistant = Assistant(tuned, tokenizer, meta=COMPACT_META, sampling=SamplingConfig(),
                          max_new_tokens=recipe.max_new_tokens)
    conversation = assistant.new_conversation()
    for message in ("Hi MOSS! " + seen_zh.en, held_out[-1].en, seen_zh.zh):
        say(f"[chat] user: {message}")
        try:
            say(f"[chat] MOSS: {assistant.reply(conversation, message).moss}")
        except ValueError as err:  # only an untrained (smoke) model rambles past its context
            say(f"[chat] (no answer: {err})")
            del conversation.turns[-1:]

    for name, model in (("base", base_model), ("tuned", tuned)):
        clock = time.perf_counter()
        # think=False: both models get the identical prompt, ending in "<|MOSS|>:" after runtime-written "None"
        # thoughts and commands; the base model would otherwise never leave its first field.
        evaluation = evaluate(model, tokenizer, held_out, meta=COMPACT_META, max_new_tokens=recipe.max_new_tokens,
                              think=False)
        figures[f"{name}_accuracy"] = evaluation.accuracy
        figures[f"eval_{name}_s"] = time.perf_counter() - clock
        example = evaluation.records[0]
        say(f"[eval] {name:>5}: {evaluation.accuracy:6.1%} of {len(held_out)} held-out questions "
            f"(e.g. {example.question!r} -> {example.answer[:60]!r})")
    figures["total_s"] = time.perf_counter() - start
    say("[eval] held out: facts about group-B entities, seen only in English pretraining, never in SFT; exact "
        "attribute match (chance is about 1 in 8 for most attributes)")
    say(f"[done] {figures['total_s']:.0f} s in all; chat with it: mosslite chat --checkpoint {tuned_run.final_dir}")
    return figures


def add_arguments(p: argparse.ArgumentParser) -> None:
    defaults = Recipe()
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/quickstart", help="each run writes a new timestamped folder here")
    p.add_argument("--preset", default=defaults.preset, choices=["toy", "tiny", "small"])
    p.add_argument("--steps", type=int, default=defaults.steps, help="pretraining steps")
    p.add_argument("--sft-steps", type=int, default=defaults.sft_steps)
    p.add_argument("--finetune", default=defaults.finetune, choices=["full", "lora"])
    p.add_argument("--questions", type=int, default=defaults.questions, help="held-out questions to score (all)")
    p.add_argument("--smoke", action="store_true", help="a seconds-long run (also: MOSSLITE_SMOKE=1)")


def main(args: argparse.Namespace) -> int:
    recipe = SMOKE if args.smoke or is_smoke() else Recipe()
    changes = {k: getattr(args, k) for k in ("preset", "steps", "sft_steps", "finetune", "questions")
               if getattr(args, k) != getattr(Recipe(), k)}
    recipe = replace(recipe, **changes)
    run(recipe, Path(args.out) / time.strftime("%Y%m%d-%H%M%S"), seed=args.seed)
    return 0
