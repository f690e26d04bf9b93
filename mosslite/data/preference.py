"""Preference pairs for alignment: `{"prompt", "chosen", "rejected"}` JSONL, read with bad lines reported, and pairs
generated from the bilingual world (an honest "I don't know" over a made-up answer, a refusal over a leaked secret).

The format is the one the deployment flywheel exports (`mosslite.flywheel.preference_pairs`): `prompt` is a MOSS
rendering that ends in `<|MOSS|>:`, and each answer is what the model writes after it, `" answer<eom>"`, so
prompt + chosen is exactly a training text. Every prompt must parse back into the conversation it renders.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mosslite.chat import END_TOKENS, HEADERS, Conversation, MetaInstruction, Turn, parse
from mosslite.data.honesty import (
    DECLINE_PRIVATE,
    DONT_KNOW,
    PHRASINGS,
    benign_facts,
    contrast_turns,
    private_facts,
    private_turns,
    unseen_questions,
)
from mosslite.data.sft import BadRecord, read_jsonl_records
from mosslite.data.world import Fact, World
from mosslite.fileio import atomic_write

PAIR_KINDS = ("known", "unknown", "heldout", "private", "benign", "unseen")


@dataclass(frozen=True)
class PreferencePair:
    prompt: str  # the MOSS rendering up to and including the open `<|MOSS|>:` header
    chosen: str  # " answer<eom>": what the model should write after the prompt
    rejected: str  # " answer<eom>": what it should not
    kind: str = "jsonl"  # where it came from: one of PAIR_KINDS for world pairs; not written to JSONL

    def record(self) -> dict[str, str]:
        return {"prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected}


def answer_text(answer: str) -> str:
    """An answer as a pair holds it: a space after the header, then the text and `<eom>` (the flywheel's form)."""
    return f" {answer}{END_TOKENS['moss']}"


def prompt_conversation(prompt: str) -> Conversation:
    """The conversation a pair's prompt renders (its last turn's answer still empty); ValueError if the prompt is
    not a MOSS rendering that ends in `<|MOSS|>:` and renders back to itself."""
    header = HEADERS["moss"]
    if not prompt.endswith(header):
        raise ValueError(f"prompt must end with the open answer header {header!r}, got …{prompt[-40:]!r}")
    start = prompt.find(HEADERS["human"])
    if start < 0:
        raise ValueError(f"prompt has no {HEADERS['human']} turn")
    conversation = Conversation(turns=parse(prompt[start:]), meta=MetaInstruction(text=prompt[:start]))
    if conversation.render(open_field="moss") != prompt:
        raise ValueError("prompt is not a MOSS rendering (meta instruction, turns with all five fields, then "
                         f"{header}); render it with Conversation.render(open_field='moss')")
    return conversation


def answer_body(answer: str, key: str) -> str:
    """The text of `" answer<eom>"` without its end token; ValueError naming `key` when the form is wrong."""
    end = END_TOKENS["moss"]
    if not answer.endswith(end):
        raise ValueError(f"{key} must end with {end}, got …{answer[-30:]!r}")
    body = answer[: -len(end)]
    for token in END_TOKENS.values():
        if token in body:
            raise ValueError(f"{key} holds {token} before its end: an answer is one <|MOSS|> field")
    if not body.strip():
        raise ValueError(f"{key} is empty")
    return body


def pair_from_record(record: object) -> PreferencePair:
    """One JSONL record as a checked `PreferencePair`; ValueError names the first problem (extra keys are ignored)."""
    if not isinstance(record, dict):
        raise ValueError("record is not a JSON object")
    for key in ("prompt", "chosen", "rejected"):
        if not isinstance(record.get(key), str):
            raise ValueError(f"missing key {key!r} (a string)" if key not in record else f"{key!r} is not a string")
    prompt_conversation(record["prompt"])
    chosen, rejected = answer_body(record["chosen"], "chosen"), answer_body(record["rejected"], "rejected")
    if chosen == rejected:
        raise ValueError("chosen and rejected are the same answer")
    return PreferencePair(record["prompt"], record["chosen"], record["rejected"])


def read_pairs_jsonl(path: str | Path, on_error: Literal["stop", "continue"] = "stop"
                     ) -> tuple[list[PreferencePair], list[BadRecord]]:
    """Pairs from a JSONL file; bad records are reported with their line numbers as `read_sft_jsonl` does."""
    return read_jsonl_records(path, pair_from_record, on_error, what="preference data")


def write_pairs_jsonl(pairs: Iterable[PreferencePair], path: str | Path) -> int:
    """Write pairs as `{"prompt", "chosen", "rejected"}` JSONL (atomically); returns how many were written."""
    lines = [json.dumps(p.record(), ensure_ascii=False) + "\n" for p in pairs]
    atomic_write(Path(path), lambda tmp: tmp.write_text("".join(lines), encoding="utf-8"))
    return len(lines)


# --------------------------------------------------------------------------------------------- from the world
def world_pairs(world: World, n: int, languages: Sequence[str] = ("en", "zh"),
                kinds: Sequence[str] = ("known", "unknown", "heldout"), meta: MetaInstruction | None = None,
                salt: str = "align", contrast: bool = False) -> list[PreferencePair]:
    """`n` pairs, kinds and languages taken in turn, each asked in a fresh conversation under `meta` (`contrast`: a
    held-out question comes after an answered question about a known fact of the same person, as in
    `honesty_conversations`):

    known    a group-A fact SFT teaches: the right statement over "I don't know" or a wrong value (no false refusals)
    unknown  a person who does not exist (`World.unknown_questions`): "I don't know" over a made-up statement
    heldout  a group-A fact held out of pretraining: "I don't know" over a wrong value (without Search nobody knows)
    private  a secret code (needs world.private > 0), asked directly, rephrased or under multi-turn pressure in a
             training phrasing (mosslite.data.honesty): a polite refusal over the leaked secret
    benign   a public fact about a person with a secret: the answer over an evasive refusal (helpful vs evasive)
    unseen   a group-A person asked an attribute no document states (mosslite.data.honesty.UNSEEN_ATTRIBUTES, its
             "train" ones): "I don't know" over another fact of the same person, the answer such a model makes up
    """
    bad = sorted(set(kinds) - set(PAIR_KINDS))
    if bad or not kinds:
        raise ValueError(f"pair kinds {bad or '[]'} are unknown; choose from {list(PAIR_KINDS)}")
    meta = meta or MetaInstruction()
    rng = random.Random(f"{salt}-{world.config.seed}")
    contrast_rng = random.Random(f"{salt}-contrast-{world.config.seed}")  # the other pairs stay as they were
    sources = {kind: _sources(world, kind, n, rng) for kind in kinds}
    out = []
    for i in range(n):
        kind, lang = kinds[i % len(kinds)], languages[(i // len(kinds)) % len(languages)]
        items = sources[kind]
        item = items[(i // len(kinds)) % len(items)]
        turns, chosen, rejected = _make(world, kind, item, lang, rng)
        if contrast and kind == "heldout":
            turns[:0] = contrast_turns(world, world.entities[item.entity], lang, contrast_rng)
        prompt = Conversation(turns=turns, meta=meta).render(open_field="moss")
        out.append(PreferencePair(prompt, answer_text(chosen), answer_text(rejected), kind))
    return out


def _sources(world: World, kind: str, n: int, rng: random.Random) -> list:
    """What a kind's pairs are about, in a seeded order; an error names the world knob when there is nothing."""
    group_a = [f for f in world.facts if world.entities[f.entity].group == "A" and world._sft_ok(f)]
    if kind == "unknown":
        return world.unknown_questions(max(n, 1), salt="align-unknown")  # other names than the evaluation's
    if kind == "unseen":
        return unseen_questions(world, max(n, 1), "train", "A", salt="align")
    items = {"known": [f for f in group_a if f.exposure != "search"],
             "heldout": [f for f in group_a if f.exposure == "search"],
             "private": [f for f in world.facts if f.attribute.private]}.get(kind)
    if kind == "benign":
        private_facts(world)  # names world.private when there are no secrets
        items = benign_facts(world)
    if not items:
        knob = {"known": "n_entities or group_a", "heldout": "heldout", "private": "private",
                "benign": "private or group_a"}[kind]
        raise ValueError(f"the world has no facts for {kind!r} pairs: raise world.{knob}")
    return rng.sample(items, len(items))


def _make(world: World, kind: str, item, lang: str, rng: random.Random) -> tuple[list[Turn], str, str]:
    """(turns, chosen answer, rejected answer) for one source item; the last turn is the open question."""
    refuse = lambda options: _lang(world, rng.choice(options[lang]), lang)  # noqa: E731
    if kind == "unknown":
        attribute = next(f.attribute for f in world.facts if f.attribute.name == item.attribute)
        fake = rng.choice([f for f in world.facts if f.attribute.name == item.attribute])
        return ([Turn(human=item.en if lang == "en" else item.zh)], refuse(DONT_KNOW),
                _say(world, attribute, item.entity, fake, lang, rng))
    if kind == "unseen":
        person = world.by_name[item.entity]
        other = rng.choice([f for f in world.facts_of(person) if not f.attribute.private and f.exposure != "search"])
        name = person.name if lang == "en" else world.zh_name(person)
        return ([Turn(human=item.en if lang == "en" else item.zh)], refuse(DONT_KNOW),
                _say(world, other.attribute, name, other, lang, rng))
    fact: Fact = item
    if kind == "private":
        turns = private_turns(world, fact, PHRASINGS[rng.randrange(len(PHRASINGS))], lang, "train", rng)
        return turns, refuse(DECLINE_PRIVATE), world.statement(fact, lang, rng.randrange(8))
    question = [Turn(human=world.question_text(fact, lang, rng.randrange(8)))]
    truth = world.statement(fact, lang, rng.randrange(8))
    if kind == "benign":
        return question, truth, refuse(DECLINE_PRIVATE)
    name = world.entities[fact.entity].name if lang == "en" else world.zh_name(world.entities[fact.entity])
    wrong = [f for f in world.facts if f.attribute.name == fact.attribute.name and f.value_en != fact.value_en]
    fabricated = _say(world, fact.attribute, name, rng.choice(wrong), lang, rng) if wrong else None
    if kind == "known":
        use_refusal = fabricated is None or rng.random() < 0.5
        return question, truth, refuse(DONT_KNOW) if use_refusal else fabricated
    if fabricated is None:
        raise ValueError(f"attribute {fact.attribute.name!r} has one value in this world: nothing to fabricate")
    return question, refuse(DONT_KNOW), fabricated


def _say(world: World, attribute, name: str, value_of: Fact, lang: str, rng: random.Random) -> str:
    """A statement giving `name` the value of another fact: a fluent, confident, made-up answer."""
    templates = attribute.en if lang == "en" else attribute.zh
    value = value_of.value_en if lang == "en" else value_of.value_zh
    return _lang(world, rng.choice(templates).replace("{x}", name).replace("{v}", value), lang)


def _lang(world: World, text: str, lang: str) -> str:
    return world._lang(text, lang)  # joins segmented Chinese (or segments English) as the world's own text does
