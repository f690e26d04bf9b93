"""The built-in bilingual world: a seeded knowledge base of invented entities, and everything rendered from it.

One `World` feeds every stage, so every experiment is controlled:
  - pretraining documents (`World.documents`): English text about every entity, plus a small, exactly metered share
    of Chinese text about group A only (comparable statements, question-answer lines, incidental parallel pairs);
  - SFT dialogues (`World.dialogues`): neutral turns `{"human", "moss", inner_thoughts?, commands?, results?}` about
    group A, with or without the tools `Search`, `Calculate`, `Solve`;
  - the search index (`World.search_documents`): a snippet per fact, facts held out of pretraining included;
  - evaluation questions (`World.questions` …) with gold answers in both languages and their split.

Splits. Entities of each kind are cut into group **A** (may appear in Chinese text and in SFT) and group **B**
(English pretraining only, never in SFT: the held-out side). A share of facts is held out of pretraining altogether
and can only be found with `Search`. Each fact's `exposure` says where it appears: "en+zh", "en" or "search"; a
question's `split` is "group/exposure", so "B/en" is the translation experiment's question: a fact seen only in
English, asked in Chinese. Chinese text never mentions a group-B entity at all, not even as the value of a fact.

Sizes are counted in *units*, a tokenizer-free proxy for tokens (`count_units`): a run of Latin letters, a run of
digits, or any other single non-space character, so each Chinese character and each punctuation mark is one unit.
The Chinese share is the share of units in Chinese sentences (a code-switched Latin name inside one counts as Chinese).
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Literal, NamedTuple

from mosslite.data import world_templates as T
from mosslite.fileio import atomic_write

_UNIT = re.compile(r"[A-Za-z\u00c0-\u024f]+|[0-9]+|\S")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
KINDS = ("person", "city", "organisation", "animal", "object")
KIND_WEIGHTS = {"person": 0.5, "organisation": 0.15, "animal": 0.15, "object": 0.2}  # how n_entities is divided


def count_units(text: str) -> int:
    """Units in `text`: Latin-letter runs, digit runs and every other non-space character (each CJK character)."""
    return len(_UNIT.findall(text))


def _join_zh(text: str) -> str:
    """Unsegment Chinese: drop a space wherever either neighbour is not ASCII ("{x} 住 在 {v} 。" -> "{x}住在{v}。")."""
    return re.sub(r" (?=[^\x00-\x7f])|(?<=[^\x00-\x7f]) ", "", text)


def _segment_en(text: str) -> str:
    """Split English punctuation and "'s" off their words, the way a whitespace tokenizer wants them (idempotent)."""
    text = re.sub(r"\s*'s\b", " 's", text)
    return re.sub(r"\s*([.,?!:;])", r" \1", text)


def chat_turn(question: str, answer: str) -> str:
    """One question and its answer as a turn of the MOSS chat format, as chat logs quoted on web pages have it (its
    end tokens are plain text here; a packer that allows them makes them the special ids chat uses)."""
    from mosslite.chat import Conversation, Turn  # lazy: only this layout needs the chat module

    return "".join(text for text, _, _ in Conversation([Turn(question, answer)]).pieces()[1:]).rstrip("\n")


# ------------------------------------------------------------------------------------------------------ config
@dataclass(frozen=True)
class WorldConfig:
    """Every knob of the world. The same config and seed always give the same world, text and splits."""

    seed: int = 0
    n_entities: int = 120  # people, organisations, animals and objects together (cities are n_cities more)
    n_cities: int = 8  # cities are also the values of every "where" attribute
    kinds: tuple[str, ...] = KINDS
    attributes: tuple[str, ...] | None = None  # keep only these attribute names, e.g. ("city", "color", "food")
    n_values: int = 8  # values per categorical attribute (chance is 1/n_values)
    docs_per_fact: int = 10  # each pretraining fact appears in this many English documents
    facts_per_doc: tuple[int, int] = (2, 4)  # English documents hold this many facts of one entity
    en_qa: float = 0.2  # chance an English fact is preceded by its question ("FAQ" lines)
    arithmetic: float = 0.05  # chance an English document is followed by a worked arithmetic word problem
    zh_share: float = 0.01  # share of pretraining units in Chinese sentences (0 to 0.5)
    zh_entities: Literal["A", "all"] = "A"  # which group Chinese text may mention ("A": B stays English-only)
    zh_code_switch: bool = True  # Chinese text keeps the Latin names; False uses transliterations (科洛布)
    zh_parallel: float = 0.55  # share of Chinese fact lines that come with their English translation
    zh_qa: float = 0.35  # share that are a Chinese question followed by its answer (the rest: plain statements)
    zh_parallel_qa: float = 0.0  # share of parallel pairs that are FAQ lines in both languages (question + answer)
    zh_cross_qa: float = 0.0  # share of Chinese question lines answered in English (a bilingual forum's Q&A)
    answer_template: int | None = None  # dialogue answers use this statement template (0: subject first); None: any
    qa_layout: Literal["inline", "chat"] = "inline"  # question-answer lines as plain text, or as chat-log turns
    zh_dictionary: float = 0.03  # share of bilingual documents that are word lists ("purple = 紫色")
    group_a: float = 0.5  # share of each kind's entities in group A
    heldout: float = 0.1  # share of facts held out of pretraining, findable only through Search
    # a further share of group A's remaining public facts held out (own random stream: every other fact, value and
    # split stays as it was), so tuning has more "known person, unread attribute" examples than evaluation gives up
    heldout_a: float = 0.0
    private: float = 0.0  # share of people with a secret code (for the alignment stage); 0 = none
    segmented: bool = False  # space-separate every word and punctuation mark (for word-level tokenizers)

    def __post_init__(self) -> None:
        checks = {
            "n_entities": self.n_entities >= 0, "n_cities": self.n_cities >= 1,
            "n_values": 2 <= self.n_values <= 10, "docs_per_fact": self.docs_per_fact >= 1,
            "facts_per_doc": 1 <= self.facts_per_doc[0] <= self.facts_per_doc[1],
            "zh_share": 0 <= self.zh_share <= 0.5, "zh_entities": self.zh_entities in ("A", "all"),
            "zh_parallel + zh_qa": 0 <= self.zh_parallel and 0 <= self.zh_qa and self.zh_parallel + self.zh_qa <= 1,
            "kinds": bool(self.kinds) and set(self.kinds) <= set(KINDS),
            "qa_layout": self.qa_layout in ("inline", "chat"),
        }
        for name in ("en_qa", "arithmetic", "zh_dictionary", "group_a", "heldout", "heldout_a", "private", "zh_parallel_qa",
                     "zh_cross_qa"):
            checks[name] = 0 <= getattr(self, name) <= 1
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"WorldConfig: invalid {', '.join(bad)} (see the field comments in mosslite/data/world.py)")


# ---------------------------------------------------------------------------------------------- knowledge base
@dataclass(frozen=True)
class Entity:
    id: int
    kind: str
    name: str  # the Latin name, used in English (and in Chinese when code-switching)
    name_zh: str  # the transliteration
    group: str | None  # "A", "B", or None for cities that are only values (city not in kinds)


@dataclass(frozen=True)
class Fact:
    id: int
    entity: int
    attribute: T.Attribute
    value_en: str
    value_zh: str  # as written in Chinese text of this world (code-switching and segmentation applied)
    value_entity: int | None  # the entity a value names (a city, a person, an organisation), if any
    exposure: Literal["en+zh", "en", "search"]


class WorldDocument(NamedTuple):
    text: str
    kind: str  # "en", "bilingual", "dictionary" or "arithmetic"
    en_units: int
    zh_units: int


@dataclass
class DialogueTurn:
    """One exchange in the neutral structure the chat format renders later; None means the field is absent."""

    human: str
    moss: str
    inner_thoughts: str | None = None
    commands: str | None = None
    results: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class Dialogue:
    id: str
    kind: str  # "fact", "arithmetic", "no_tool", "search", "calculate" or "solve"
    lang: str
    turns: list[DialogueTurn]
    tools: tuple[str, ...] = ()  # tools the meta instruction should enable
    facts: tuple[int, ...] = ()  # ids of the facts the dialogue uses

    def as_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "lang": self.lang, "tools": list(self.tools),
                "facts": list(self.facts), "turns": [t.as_dict() for t in self.turns]}


@dataclass(frozen=True)
class Question:
    """An evaluation item with gold answers in both languages; `answer_en` is None when nobody could know it."""

    id: str
    kind: str  # "fact", "arithmetic", "equation" or "unknown"
    en: str
    zh: str
    answer_en: str | None
    answer_zh: str | None
    split: str  # "A/en+zh", "B/en", "A/search", … for facts; the kind otherwise
    entity: str | None = None
    attribute: str | None = None
    cloze_en: str | None = None  # statement prefix right before the value: "Kelob lives in"
    cloze_zh: str | None = None
    choices_en: tuple[str, ...] = ()  # every value of the attribute, for restricted or multiple-choice scoring
    choices_zh: tuple[str, ...] = ()
    private: bool = False
    command: str | None = None  # the tool call that answers it: Search("…"), Calculate("…") or Solve("…")
    sft: bool = False  # the fact is in the pool SFT dialogues draw from (group A, no group-B value, not private)


class _Say(NamedTuple):
    """A fact pre-rendered in every template: generating text is then only picking and joining."""

    en: list[tuple[str, int]]  # (statement, units)
    zh: list[tuple[str, int]]
    q_en: list[tuple[str, int]]
    q_zh: list[tuple[str, int]]


class World:
    """The knowledge base of one `WorldConfig`, with renderers for documents, dialogues, search and evaluation."""

    def __init__(self, config: WorldConfig | None = None) -> None:
        self.config = cfg = config or WorldConfig()
        rng = random.Random(f"world-{cfg.seed}")
        self._names = _NameMaker(rng)
        self.entities: list[Entity] = []
        counts = _split_counts(cfg.n_entities, [k for k in cfg.kinds if k != "city"])
        for kind in ("city",) + tuple(k for k in KINDS if k != "city"):
            n = cfg.n_cities if kind == "city" else counts.get(kind, 0)
            in_world = kind in cfg.kinds
            ids = list(range(len(self.entities), len(self.entities) + n))
            rng.shuffle(ids)  # which ones land in group A is random, not the first names made
            a_ids = set(ids[: round(cfg.group_a * n)])
            for i in range(len(self.entities), len(self.entities) + n):
                name, name_zh = self._names.make(kind)
                group = ("A" if i in a_ids else "B") if in_world else None
                self.entities.append(Entity(i, kind, name, name_zh, group))
        self.bystanders = [self._names.make("person") for _ in range(8)]  # names for word problems, no facts
        self.countries = [self._names.make("country") for _ in range(cfg.n_values)]
        self.rivers = [self._names.make("river") for _ in range(cfg.n_values)]
        self.facts = self._make_facts(rng)
        self._say = [self._pre_render(f) for f in self.facts]
        self._headers = [[(h, count_units(h)) for h in (self._en(t.replace("{x}", e.name)) for t in T.EN_HEADERS)]
                         for e in self.entities]
        self.by_name = {e.name: e for e in self.entities}

    # ------------------------------------------------------------------------------------------ building
    def attributes_of(self, kind: str) -> tuple[T.Attribute, ...]:
        """The attributes entities of `kind` have in this world (some need another kind, or a knob, to exist)."""
        cfg, present = self.config, set(self.config.kinds)
        needs = {"person": "person", "organisation": "organisation"}
        keep = []
        for attr in T.ATTRIBUTES[kind]:
            if cfg.attributes is not None and attr.name not in cfg.attributes:
                continue
            if attr.values in needs and needs[attr.values] not in present:
                continue
            if attr.private and cfg.private == 0:
                continue
            keep.append(attr)
        return tuple(keep)

    def _make_facts(self, rng: random.Random) -> list[Fact]:
        cfg = self.config
        of_kind = {k: [e for e in self.entities if e.kind == k] for k in KINDS}
        people = [e for e in of_kind["person"] if e.group]
        private_ids = {e.id for e in rng.sample(people, round(cfg.private * len(people)))}
        raw = []
        for entity in self.entities:
            if entity.group is None:
                continue
            for attr in self.attributes_of(entity.kind):
                if attr.private and entity.id not in private_ids:
                    continue
                raw.append((entity, attr) + self._draw_value(attr, entity, of_kind, rng))
        public = [i for i, item in enumerate(raw) if not item[1].private]
        heldout = set(rng.sample(public, round(cfg.heldout * len(public))))
        if cfg.heldout_a:
            group_a = [i for i in public if i not in heldout and raw[i][0].group == "A"]
            extra = random.Random(f"world-{cfg.seed}-heldout-a")
            heldout |= set(extra.sample(group_a, round(cfg.heldout_a * len(group_a))))
        facts = []
        for i, (entity, attr, en, zh, value_entity) in enumerate(raw):
            facts.append(Fact(i, entity.id, attr, en, zh, value_entity, self._exposure(entity, value_entity, i in heldout)))
        return facts

    def _draw_value(self, attr: T.Attribute, entity: Entity, of_kind: dict, rng: random.Random):
        """(English, Chinese, entity id or None) for a random value of `attr`."""
        kind = attr.values
        if kind in T.CATEGORICAL:
            en, zh = rng.choice(T.CATEGORICAL[kind][: self.config.n_values])
            return en, self._zh(zh), None
        if kind in T.NUMBERS:
            low, high, step, unit = T.NUMBERS[kind]
            n = rng.randrange(low, high + 1, step)
            return str(n), self._zh(f"{n}{unit}"), None
        if kind in ("country", "river"):
            en, zh = rng.choice(self.countries if kind == "country" else self.rivers)
            zh = en if self.config.zh_code_switch else zh
            return en, self._zh(zh + " 河" if kind == "river" else zh), None
        choices = [e for e in of_kind[kind] if e.id != entity.id]
        target = rng.choice(choices)
        return target.name, self._zh(self.zh_name(target)), target.id

    def _exposure(self, entity: Entity, value_entity: int | None, heldout: bool) -> str:
        if heldout:
            return "search"
        mentioned = [entity] + ([self.entities[value_entity]] if value_entity is not None else [])
        if self.config.zh_share > 0 and all(self.may_be_chinese(e) for e in mentioned):
            return "en+zh"
        return "en"

    def may_be_chinese(self, entity: Entity) -> bool:
        """Whether Chinese pretraining text may mention `entity`: never for group B unless zh_entities="all"."""
        return entity.group != "B" or self.config.zh_entities == "all"

    def zh_name(self, entity: Entity) -> str:
        """The name Chinese text uses: the Latin one when code-switching, else the transliteration."""
        return entity.name if self.config.zh_code_switch else entity.name_zh

    def _zh(self, text: str) -> str:
        return text if self.config.segmented else _join_zh(text)

    def _en(self, text: str) -> str:
        return _segment_en(text) if self.config.segmented else text

    def _pre_render(self, fact: Fact) -> _Say:
        entity = self.entities[fact.entity]
        name_zh = self.zh_name(entity)

        def fill(templates, lang, name, value, question=False):
            out = []
            for t in templates:
                if lang == "zh":
                    t = t.replace("{v}", fact.attribute.zh_wh).replace("。", "？") if question else t
                    text = self._zh(t.replace("{x}", name).replace("{v}", value))
                else:
                    text = self._en(t.replace("{x}", name).replace("{v}", value))
                out.append((text, count_units(text)))
            return out

        a = fact.attribute
        return _Say(fill(a.en, "en", entity.name, fact.value_en), fill(a.zh, "zh", name_zh, fact.value_zh),
                    fill(a.en_questions, "en", entity.name, ""), fill(a.zh, "zh", name_zh, "", question=True))

    # ---------------------------------------------------------------------------------------- rendering
    def statement(self, fact: Fact, lang: str, template: int = 0) -> str:
        """`fact` said in `lang` with one of its attribute's templates."""
        say = self._say[fact.id]
        options = say.en if lang == "en" else say.zh
        return options[template % len(options)][0]

    def question_text(self, fact: Fact, lang: str, template: int = 0) -> str:
        """The question whose answer is `fact`'s value."""
        say = self._say[fact.id]
        options = say.q_en if lang == "en" else say.q_zh
        return options[template % len(options)][0]

    def cloze(self, fact: Fact, lang: str) -> str:
        """The first template cut right before the value: a prompt whose next word is the answer."""
        entity = self.entities[fact.entity]
        if lang == "en":
            return self._en(fact.attribute.en[0].replace("{x}", entity.name)).split("{v}")[0].rstrip()
        return self._zh(fact.attribute.zh[0].replace("{x}", self.zh_name(entity))).split("{v}")[0].rstrip()

    def facts_of(self, entity: Entity) -> list[Fact]:
        return [f for f in self.facts if f.entity == entity.id]

    # -------------------------------------------------------------------------------------- pretraining
    def documents(self) -> Iterator[WorldDocument]:
        """The pretraining stream: `docs_per_fact` rounds over every entity's English facts, with bilingual
        documents slipped in whenever the Chinese share falls below `zh_share` (so the share holds at any length)."""
        cfg = self.config
        rng = random.Random(f"pretrain-{cfg.seed}")
        by_entity: dict[int, list[Fact]] = {}
        for fact in self.facts:
            if fact.exposure != "search":
                by_entity.setdefault(fact.entity, []).append(fact)
        bilingual = self._bilingual_documents(random.Random(f"bilingual-{cfg.seed}")) if cfg.zh_share else None
        en_units = zh_units = 0
        lo, hi = cfg.facts_per_doc
        for _ in range(cfg.docs_per_fact):
            order = list(by_entity)
            rng.shuffle(order)
            for entity_id in order:
                facts = by_entity[entity_id][:]
                rng.shuffle(facts)
                while facts:
                    k = lo + int(rng.random() * (hi - lo + 1))
                    docs = [self._english_document(entity_id, facts[:k], rng)]
                    facts = facts[k:]
                    if rng.random() < cfg.arithmetic:
                        docs.append(self._arithmetic_document(rng))
                    for doc in docs:
                        en_units, zh_units = en_units + doc.en_units, zh_units + doc.zh_units
                        yield doc
                    for _guard in range(1000):
                        if bilingual is None or zh_units >= cfg.zh_share * (en_units + zh_units):
                            break
                        doc = next(bilingual)
                        en_units, zh_units = en_units + doc.en_units, zh_units + doc.zh_units
                        yield doc
                    else:
                        raise ValueError(f"zh_share={cfg.zh_share} cannot be reached with zh_parallel="
                                         f"{cfg.zh_parallel}: parallel pairs are half English; lower one of them")

    def _english_document(self, entity_id: int, facts: list[Fact], rng: random.Random) -> WorldDocument:
        # The hot loop of generation: everything is pre-rendered, so a document is a few picks and one join.
        rand, en_qa = rng.random, self.config.en_qa
        lines, units = [], 0
        if rand() < 0.5:
            header, units = _pick(self._headers[entity_id], rand)
            lines.append(header)
        body, log = [], []
        for fact in facts:
            say = self._say[fact.id]
            text, n = _pick(say.en, rand)
            if rand() < en_qa:
                q, m = _pick(say.q_en, rand)
                if self.config.qa_layout == "chat":  # a chat log quoted after the article
                    log.append(chat_turn(q, text))
                    units += n + m
                    continue
                text, n = f"{q} {text}", n + m
            body.append(text)
            units += n
        # Half the documents are one paragraph, half one sentence per line: layout is not a clue to content.
        lines.append((" " if rand() < 0.5 else "\n").join(body))
        lines += log
        return WorldDocument("\n".join(line for line in lines if line), "en", units, 0)

    def _bilingual_documents(self, rng: random.Random) -> Iterator[WorldDocument]:
        """Endless documents about the entities Chinese text may mention, mixing parallel pairs, Chinese QA lines
        and plain Chinese statements; a QA line always ends its document, so no answer is followed by a question."""
        cfg = self.config
        pool: dict[int, list[Fact]] = {}
        for fact in self.facts:
            if fact.exposure == "en+zh":
                pool.setdefault(fact.entity, []).append(fact)
        if not pool:
            raise ValueError("zh_share > 0 but no fact may appear in Chinese: raise group_a or set zh_entities='all'")
        words = self._dictionary()
        entities = list(pool)
        while True:
            rng.shuffle(entities)
            for entity_id in entities:
                if words and rng.random() < cfg.zh_dictionary:
                    yield self._dictionary_document(words, rng)
                facts = pool[entity_id]
                lines, en, zh = [], 0, 0
                for fact in rng.sample(facts, min(len(facts), rng.randint(1, 3))):
                    say, form = self._say[fact.id], rng.random()
                    t = rng.randrange(len(say.zh))
                    z, zn = say.zh[t]
                    if form < cfg.zh_parallel:
                        e, n = rng.choice(say.en)
                        if cfg.zh_parallel_qa and rng.random() < cfg.zh_parallel_qa:  # an FAQ line and its translation
                            (qe, qen), (qz, qzn) = rng.choice(say.q_en), say.q_zh[t]
                            e, n, z, zn = f"{qe} {e}", n + qen, f"{qz} {z}", zn + qzn
                        lines.append(f"{e} {z}" if rng.random() < 0.5 else f"{z} {e}")
                        en, zh = en + n, zh + zn
                    elif form < cfg.zh_parallel + cfg.zh_qa:
                        q, qn = say.q_zh[t]  # the question is the answer's own template with a question word
                        chat = cfg.qa_layout == "chat"
                        if cfg.zh_cross_qa and rng.random() < cfg.zh_cross_qa:  # answered in English
                            e, n = rng.choice(say.en)
                            lines.append(chat_turn(q, e) if chat else f"{q} {e}")
                            zh, en = zh + qn, en + n
                        else:
                            lines.append(chat_turn(q, z) if chat else f"{q} {z}")
                            zh += qn + zn
                        break
                    else:
                        lines.append(z)
                        zh += zn
                yield WorldDocument("\n".join(lines), "bilingual", en, zh)

    def _dictionary(self) -> list[tuple[str, str]]:
        """Word pairs Chinese text may state: the categorical values in use (and names, without code-switching)."""
        pairs = []
        for kind in dict.fromkeys(f.attribute.values for f in self.facts):
            if kind in T.CATEGORICAL:
                pairs += T.CATEGORICAL[kind][: self.config.n_values]
        if not self.config.zh_code_switch:
            pairs += [(e.name, e.name_zh) for e in self.entities if self.may_be_chinese(e)]
        return list(dict.fromkeys(pairs))

    def _dictionary_document(self, words: list[tuple[str, str]], rng: random.Random) -> WorldDocument:
        lines, en, zh = [], 0, 0
        for word, word_zh in rng.sample(words, min(len(words), rng.randint(3, 6))):
            lines.append(f"{word} = {word_zh}")
            en, zh = en + count_units(word), zh + count_units(f"= {word_zh}")
        return WorldDocument("\n".join(lines), "dictionary", en, zh)

    def _arithmetic_document(self, rng: random.Random) -> WorldDocument:
        problem = self._word_problem(rng, "en", digits=(1, 2))
        text = f"{problem.question} {problem.working}"
        return WorldDocument(text, "arithmetic", count_units(text), 0)

    # --------------------------------------------------------------------------------------- arithmetic
    def _word_problem(self, rng: random.Random, lang: str, digits: tuple[int, int]) -> _Problem:
        """A word problem with numbers of `digits` digits, its exact answer and the expression a calculator needs."""
        op = rng.choice("+-*/")
        lo, hi = 10 ** (digits[0] - 1), 10 ** digits[1] - 1
        a, b = rng.randint(lo, hi), rng.randint(lo, hi)
        if op == "-":
            a, b = max(a, b), min(a, b)
        if op == "/":
            b = rng.randint(2, 12)
            a = b * rng.randint(max(1, lo // b), max(1, hi // b))
        if op == "*" and digits[1] > 2:
            b = rng.randint(2, 99)  # 4-digit times 2-digit: hard for a small model, exact for Calculate
        answer = int(eval_op(a, op, b))
        name_en, name_zh = rng.choice(self.bystanders)
        item_en, item_zh = rng.choice(T.ITEMS)
        sign = {"+": "+", "-": "-", "*": "×", "/": "÷"}[op]
        template = T.WORD_PROBLEMS[op][0 if lang == "en" else 1]
        if lang == "en":
            q = self._en(template.format(x=name_en, a=a, b=b, item=item_en))
        else:
            q = self._zh(template.format(x=name_en if self.config.zh_code_switch else name_zh, a=a, b=b, item=item_zh))
        working = f"{a} {sign} {b} = {answer}."
        return _Problem(q, answer, f"{a}{op}{b}", self._en(working) if lang == "en" else self._zh(working[:-1] + " 。"))

    def _equation_problem(self, rng: random.Random, lang: str) -> tuple[str, str, str, str]:
        """(question, equation for Solve, answer text, gold numbers) for a linear equation or a 2×2 system."""
        if rng.random() < 0.5:
            x, a, b = rng.randint(2, 60), rng.randint(2, 9), rng.randint(1, 90)
            c = a * x + b
            en, zh, eq = T.EQUATION_PROBLEMS["linear"]
            name_en, name_zh = rng.choice(self.bystanders)
            name = name_en if lang == "en" or self.config.zh_code_switch else name_zh
            q = (en if lang == "en" else zh).format(x=name, a=a, b=b, c=c)
            answer = f"The number is {x}." if lang == "en" else f"这个 数 是 {x} 。"
            return self._lang(q, lang), eq.format(a=a, b=b, c=c), self._lang(answer, lang), str(x)
        x, y = rng.randint(20, 99), rng.randint(1, 19)
        en, zh, eq = T.EQUATION_PROBLEMS["system"]
        q = (en if lang == "en" else zh).format(a=x + y, b=x - y)
        answer = f"The two numbers are {x} and {y}." if lang == "en" else f"这 两 个 数 是 {x} 和 {y} 。"
        return self._lang(q, lang), eq.format(a=x + y, b=x - y), self._lang(answer, lang), f"{x}, {y}"

    def _lang(self, text: str, lang: str) -> str:
        return self._en(text) if lang == "en" else self._zh(text)

    # --------------------------------------------------------------------------------------------- search
    def search_documents(self, facts: list[Fact] | None = None) -> list[str]:
        """One snippet per public fact (of `facts`, default all) and language, held-out facts included: what `Search`
        can find."""
        docs = []
        for fact in self.facts if facts is None else facts:
            if fact.attribute.private:
                continue
            entity, a = self.entities[fact.entity], fact.attribute
            # An infobox line, then a sentence: the attribute's search words make the right snippet rank first.
            docs.append(self._en(f"{entity.name} ({a.search_en}): {fact.value_en}. ") + self.statement(fact, "en"))
            docs.append(self._zh(f"{self.zh_name(entity)} （ {a.search_zh} ） ： {fact.value_zh} 。 ")
                        + self.statement(fact, "zh"))
        return docs

    def search_query(self, fact: Fact, lang: str) -> str:
        """The query a tool-using model writes: in English "favorite food of Fofo", the tail of the inner thought,
        so the name keeps the leading space (and the token) it has in the question, and copying it is exact."""
        entity = self.entities[fact.entity]
        if lang == "en":
            return f"{fact.attribute.search_en} of {entity.name}"
        return self._zh(f"{self.zh_name(entity)} {fact.attribute.search_zh}")

    # ------------------------------------------------------------------------------------------ dialogues
    def dialogues(self, n: int, languages: tuple[str, ...] = ("en",), kinds: tuple[str, ...] = ("fact",),
                  max_turns: int = 3, run_tools: Callable[[str], str] | None = None,
                  salt: str = "sft") -> list[Dialogue]:
        """`n` SFT dialogues about group A, kinds and languages taken in turn. Kinds: "fact" (plain chat),
        "arithmetic" (small numbers, worked in the answer), "no_tool" (tools on, none needed), "search" (a fact held
        out of pretraining), "lookup" (Search for any fact: every group-A name and attribute, so the query must be
        copied from the question rather than recalled), "fresh" (Search about an invented entity that only this
        dialogue's search index knows: `World.invented`), "calculate" (3-4 digit arithmetic), "solve" (equations);
        tool dialogues enable all three tools, so the question, not the meta instruction, says which to call. Tool
        results come from `run_tools(commands)`; by default mosslite.tools over this world's search index, exactly as
        at inference (for "fresh", over that index plus the invented entities' snippets)."""
        unknown = set(kinds) - set(_DIALOGUE_KINDS)
        if unknown:
            raise ValueError(f"unknown dialogue kinds {sorted(unknown)}; choose from {_DIALOGUE_KINDS}")
        if set(kinds) & {"search", "lookup", "calculate", "solve"} and run_tools is None:
            run_tools = self.toolbox().run_all
        rng = random.Random(f"{salt}-{self.config.seed}")
        pools = {"fact": self._pool("A", ("en+zh", "en")), "search": self._pool("A", ("search",)),
                 "lookup": self._pool("A", ("en+zh", "en", "search"))}
        cycles = {k: _cycle(v, rng) for k, v in pools.items() if v}
        fresh = None
        if "fresh" in kinds:  # an invented entity per dialogue, asked about one of its facts
            fresh = self.invented(sum(kinds[i % len(kinds)] == "fresh" for i in range(n)), salt)
            by_entity: dict[int, list[Fact]] = {}
            for fact in fresh._pool(INVENTED, ("search",)):
                by_entity.setdefault(fact.entity, []).append(fact)
            cycles["fresh"] = iter([rng.choice(facts) for facts in by_entity.values()])
            fresh_tools = _ChunkedSearch(fresh, self.search_documents(), list(by_entity.values()))
        out = []
        for i in range(n):
            kind, lang = kinds[i % len(kinds)], languages[(i // len(kinds)) % len(languages)]
            pool_name = kind if kind in ("search", "lookup") else "fact"
            if kind in ("fact", "no_tool", "search", "lookup") and pool_name not in cycles:
                raise ValueError(f"no group-A facts for {kind!r} dialogues: raise group_a"
                                 + (" or heldout" if kind == "search" else ""))
            if kind == "fresh":
                dialogue = fresh._dialogue(f"{salt}-{i}", kind, lang, rng, cycles, max_turns, fresh_tools)
            else:
                dialogue = self._dialogue(f"{salt}-{i}", kind, lang, rng, cycles, max_turns, run_tools)
            out.append(dialogue)
        return out

    def invented(self, n: int, salt: str = "invented") -> World:
        """A copy of this world with `n` invented entities (group `INVENTED`) whose facts are only in the copy's search
        index: names and values no pretraining text has, so a dialogue about one can only be answered by copying the
        name into the query and the value out of the results. Each has every attribute of its kind, so a search
        returns its other facts too and the answer must pick the snippet with the asked attribute, as for a real
        entity. Values name group-A entities only (SFT never mentions group B). Use the copy for dialogues and
        search only: its documents and questions would include the invented facts."""
        import copy

        rng = random.Random(f"{salt}-invented-{self.config.seed}")
        names = _NameMaker(rng)
        names.used = set(self._names.used)  # never a name this world uses
        of_kind = {k: [e for e in self.entities if e.kind == k and e.group == "A"] for k in KINDS}
        kinds = [k for k in self.config.kinds if any(not a.private for a in self.attributes_of(k))]
        entities, facts = list(self.entities), list(self.facts)
        for _ in range(n):
            kind = rng.choice(kinds)
            entity = Entity(len(entities), kind, *names.make(kind), INVENTED)
            entities.append(entity)
            for attr in self.attributes_of(kind):
                if not attr.private:
                    facts.append(Fact(len(facts), entity.id, attr, *self._draw_value(attr, entity, of_kind, rng),
                                      "search"))
        world = copy.copy(self)
        world.entities, world.facts, world._names = entities, facts, names
        world._say = self._say + [world._pre_render(f) for f in facts[len(self.facts):]]
        world.by_name = {e.name: e for e in entities}
        return world

    def _pool(self, group: str, exposures: tuple[str, ...]) -> list[Fact]:
        return [f for f in self.facts if self.entities[f.entity].group == group and f.exposure in exposures
                and self._sft_ok(f)]

    def _sft_ok(self, fact: Fact) -> bool:
        """SFT never mentions a group-B entity (not even as a value) and never reveals a private attribute."""
        value = self.entities[fact.value_entity] if fact.value_entity is not None else None
        return not fact.attribute.private and (value is None or value.group != "B")

    def toolbox(self):
        """mosslite.tools' Toolbox searching this world's snippets (imported here: data does not need tools)."""
        from mosslite.tools import BM25Index, Toolbox

        return Toolbox(index=BM25Index(self.search_documents()))

    def _dialogue(self, id_: str, kind: str, lang: str, rng: random.Random, cycles: dict, max_turns: int,
                  run_tools) -> Dialogue:
        say = self._lang
        opener = rng.choice(T.DIALOGUE_OPENERS_EN if lang == "en" else T.DIALOGUE_OPENERS_ZH)
        if kind in ("fact", "no_tool"):
            first = next(cycles["fact"])
            others = [f for f in self.facts_of(self.entities[first.entity])
                      if f.exposure != "search" and self._sft_ok(f) and f.id != first.id]
            facts = [first] + rng.sample(others, min(len(others), rng.randint(0, max_turns - 1)))
            turns = []
            for j, fact in enumerate(facts):
                human = self._pick_question(fact, lang, rng)
                turn = DialogueTurn(say(opener + human, lang) if j == 0 else human, self._pick_statement(fact, lang, rng))
                if kind == "no_tool":
                    turn.inner_thoughts = self._thought(fact, lang, known=True)
                turns.append(turn)
            tools = _ALL_TOOLS if kind == "no_tool" else ()
            return Dialogue(id_, kind, lang, turns, tools, tuple(f.id for f in facts))
        if kind in ("search", "lookup", "fresh"):
            fact = next(cycles[kind])
            commands = f'Search("{self.search_query(fact, lang)}")'
            results = run_tools(commands)
            answer = self._pick_statement(fact, lang, rng)
            snippets = results.split("\n<|")[1:]  # "1|>: snippet", "2|>: snippet", …
            cited = [i for i, line in enumerate(snippets, 1) if fact.value_en in line or fact.value_zh in line]
            answer += f" <sup><|{cited[0]}|></sup>" if cited else ""
            known = False if kind == "search" else None  # a lookup searches whatever the model may remember
            turn = DialogueTurn(self._pick_question(fact, lang, rng), answer, self._thought(fact, lang, known),
                                commands, results)
            return Dialogue(id_, kind, lang, [turn], _ALL_TOOLS, (fact.id,))
        if kind == "solve":
            question, equation, answer, _ = self._equation_problem(rng, lang)
            commands = f'Solve("{equation}")'
            thought = ("This is an equation; the solver gives the exact answer." if lang == "en"
                       else "这 是 一 个 方程 ， 用 求解器 可以 得到 准确 答案 。")
            turn = DialogueTurn(question, answer, say(thought, lang), commands, run_tools(commands))
            return Dialogue(id_, kind, lang, [turn], _ALL_TOOLS)
        digits = (3, 4) if kind == "calculate" else (1, 2)
        problem = self._word_problem(rng, lang, digits)
        if kind == "arithmetic":
            return Dialogue(id_, kind, lang, [DialogueTurn(problem.question, problem.working)])
        commands = f'Calculate("{problem.expression}")'
        thought = ("The numbers are large; I will compute this exactly with the calculator." if lang == "en"
                   else "数字 比较 大 ， 我 用 计算器 精确 计算 。")
        turn = DialogueTurn(problem.question, problem.working, say(thought, lang), commands, run_tools(commands))
        return Dialogue(id_, kind, lang, [turn], _ALL_TOOLS)

    def _pick_question(self, fact: Fact, lang: str, rng: random.Random) -> str:
        say = self._say[fact.id]
        return rng.choice(say.q_en if lang == "en" else say.q_zh)[0]

    def _pick_statement(self, fact: Fact, lang: str, rng: random.Random) -> str:
        say = self._say[fact.id]
        if self.config.answer_template is not None:
            return self.statement(fact, lang, self.config.answer_template)
        return rng.choice(say.en if lang == "en" else say.zh)[0]

    def _thought(self, fact: Fact, lang: str, known: bool | None) -> str:
        entity, a = self.entities[fact.entity], fact.attribute
        if lang == "en":
            tail = {True: "I know this, so no tool is needed.", False: "I do not know this, so I will search for it.",
                    None: "I will look it up."}[known]
            return self._en(f"The user asks about the {a.search_en} of {entity.name}. {tail}")
        tail = {True: "我 知道 答案 ， 不 需要 工具 。", False: "我 不 知道 ， 需要 搜索 。", None: "我 搜索 一下 。"}[known]
        return self._zh(f"用户 问 的 是 {self.zh_name(entity)} 的 {a.search_zh} 。 {tail}")

    # ---------------------------------------------------------------------------------------- evaluation
    def questions(self, salt: str = "eval") -> list[Question]:
        """One question per fact, with gold answers in both languages, cloze prompts and the value choices."""
        rng = random.Random(f"{salt}-{self.config.seed}")
        out = []
        for fact in self.facts:
            entity = self.entities[fact.entity]
            en, zh = self.choices(fact.attribute)
            out.append(Question(
                f"fact-{fact.id}", "fact", self._pick_question(fact, "en", rng), self._pick_question(fact, "zh", rng),
                fact.value_en, fact.value_zh, f"{entity.group}/{fact.exposure}", entity.name, fact.attribute.name,
                self.cloze(fact, "en"), self.cloze(fact, "zh"), en, zh, fact.attribute.private,
                None if fact.attribute.private else f'Search("{self.search_query(fact, "en")}")',
                entity.group == "A" and self._sft_ok(fact)))
        return out

    def choices(self, attribute: T.Attribute) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Every value `attribute` can take in this world, in English and Chinese (empty for numbers)."""
        kind, code_switch = attribute.values, self.config.zh_code_switch
        if kind in T.CATEGORICAL:
            pairs = T.CATEGORICAL[kind][: self.config.n_values]
        elif kind in ("country", "river"):
            names = self.countries if kind == "country" else self.rivers
            pairs = [(en, (en if code_switch else zh) + (" 河" if kind == "river" else "")) for en, zh in names]
        elif kind in T.NUMBERS:
            return (), ()
        else:
            pairs = [(e.name, self.zh_name(e)) for e in self.entities if e.kind == kind]
        return tuple(en for en, _ in pairs), tuple(self._zh(zh) for _, zh in pairs)

    def arithmetic_questions(self, n: int, digits: tuple[int, int] = (3, 4), salt: str = "eval-arith") -> list[Question]:
        """Word problems with gold answers (the same problem in both languages)."""
        out = []
        for i in range(n):
            state = random.Random(f"{salt}-{self.config.seed}-{i}")
            en = self._word_problem(state, "en", digits)
            state = random.Random(f"{salt}-{self.config.seed}-{i}")  # same draws: the same problem in Chinese
            zh = self._word_problem(state, "zh", digits)
            out.append(Question(f"arith-{i}", "arithmetic", en.question, zh.question, str(en.answer), str(zh.answer),
                                "arithmetic", command=f'Calculate("{en.expression}")'))
        return out

    def equation_questions(self, n: int, salt: str = "eval-solve") -> list[Question]:
        """Equations with the solution as gold ("19", or "39, 5" for x and y) in both languages."""
        out = []
        for i in range(n):
            q_en, equation, _, gold = self._equation_problem(random.Random(f"{salt}-{self.config.seed}-{i}"), "en")
            q_zh = self._equation_problem(random.Random(f"{salt}-{self.config.seed}-{i}"), "zh")[0]
            out.append(Question(f"solve-{i}", "equation", q_en, q_zh, gold, gold, "equation",
                                command=f'Solve("{equation}")'))
        return out

    def unknown_questions(self, n: int, salt: str = "eval-unknown") -> list[Question]:
        """Questions about people who do not exist in this world: the honest answer is "I don't know"."""
        rng = random.Random(f"{salt}-{self.config.seed}")
        names = _NameMaker(rng)
        names.used = set(self._names.used)  # never a name this world uses
        people = [a for a in T.ATTRIBUTES["person"] if not a.private]
        out = []
        for i in range(n):
            name, name_zh = names.make("person")
            attr = rng.choice(people)
            zh_name = name if self.config.zh_code_switch else name_zh
            en = self._en(rng.choice(attr.en_questions).replace("{x}", name))
            zh = self._zh(rng.choice(attr.zh).replace("{v}", attr.zh_wh).replace("。", "？").replace("{x}", zh_name))
            out.append(Question(f"unknown-{i}", "unknown", en, zh, None, None, "unknown", name, attr.name))
        return out

    # -------------------------------------------------------------------------------------------- export
    def summary(self) -> dict:
        """Counts of entities, facts and splits: what a notebook shows before generating any text."""
        def count(items) -> dict[str, int]:
            return dict(sorted(Counter(items).items()))

        return {"entities": count(f"{e.kind}/{e.group}" for e in self.entities if e.group),
                "facts": len(self.facts), "exposure": count(f.exposure for f in self.facts),
                "splits": count(f"{self.entities[f.entity].group}/{f.exposure}" for f in self.facts)}

    def to_json(self) -> dict:
        return {"config": asdict(self.config),
                "entities": [asdict(e) for e in self.entities],
                "facts": [{"id": f.id, "entity": self.entities[f.entity].name, "kind": self.entities[f.entity].kind,
                           "attribute": f.attribute.name, "value_en": f.value_en, "value_zh": f.value_zh,
                           "exposure": f.exposure, "group": self.entities[f.entity].group} for f in self.facts]}


class _ChunkedSearch:
    """`run_all` for "fresh" dialogues: Search over this world's snippets plus those of a chunk of invented entities
    (the chunk of the one asked about), so thousands of them cost thousands of small indexes, not one huge one."""

    def __init__(self, invented: World, base_docs: list[str], facts_by_entity: list[list[Fact]], chunk: int = 64):
        self.invented, self.base_docs, self.chunk = invented, base_docs, chunk
        self.groups = [facts_by_entity[i: i + chunk] for i in range(0, len(facts_by_entity), chunk)]
        self.slot = {facts[0].entity: i // chunk for i, facts in enumerate(facts_by_entity)}
        self.cache: tuple[int, object] | None = None

    def __call__(self, commands: str) -> str:
        from mosslite.tools import BM25Index, Toolbox

        names = re.findall(r"[A-Z][a-z]+(?: [A-Z][a-z]+)?", commands)  # "Gobol", "Kevur Guild"
        entity = next(e.id for e in map(self.invented.by_name.get, names) if e is not None and e.group == INVENTED)
        slot = self.slot[entity]
        if self.cache is None or self.cache[0] != slot:  # dialogues come in entity order: one index per chunk
            facts = [f for group in self.groups[slot] for f in group]
            self.cache = (slot, Toolbox(index=BM25Index(self.base_docs + self.invented.search_documents(facts))))
        return self.cache[1].run_all(commands)


class _Problem(NamedTuple):
    question: str
    answer: int
    expression: str  # what Calculate is given
    working: str  # the answer as MOSS writes it: "12 + 7 = 19."


_DIALOGUE_KINDS = ("fact", "arithmetic", "no_tool", "search", "lookup", "fresh", "calculate", "solve")
INVENTED = "new"  # the group of `World.invented`'s entities


_ALL_TOOLS = ("Search", "Calculate", "Solve")


def eval_op(a: int, op: str, b: int) -> Fraction:
    """a op b, exactly."""
    return {"+": Fraction(a + b), "-": Fraction(a - b), "*": Fraction(a * b), "/": Fraction(a, b)}[op]


def _pick(options: list, rand: Callable[[], float]):
    """A uniform pick, cheaper than Random.choice in the generation loop."""
    return options[int(rand() * len(options))]


def _split_counts(n: int, kinds: list[str]) -> dict[str, int]:
    """Divide n between kinds by KIND_WEIGHTS, exactly (largest remainders)."""
    if not kinds:
        return {}
    total = sum(KIND_WEIGHTS[k] for k in kinds)
    exact = {k: n * KIND_WEIGHTS[k] / total for k in kinds}
    counts = {k: int(v) for k, v in exact.items()}
    for k in sorted(kinds, key=lambda k: counts[k] - exact[k])[: n - sum(counts.values())]:
        counts[k] += 1
    return counts


def _cycle(items: list, rng: random.Random) -> Iterator:
    """Endless passes over `items`, reshuffled each pass: every item is used before any is used twice."""
    items = items[:]
    while True:
        rng.shuffle(items)
        yield from items


class _NameMaker:
    """Invented names with their transliterations, never the same twice within one world."""

    def __init__(self, rng: random.Random) -> None:
        self.rng, self.used = rng, set()

    def _syllable(self) -> tuple[str, str]:
        consonant = self.rng.choice(sorted(T.SYLLABLES))
        v = self.rng.randrange(5)
        return consonant + "aeiou"[v], T.SYLLABLES[consonant][v]

    def make(self, kind: str) -> tuple[str, str]:
        for _ in range(10_000):
            parts = [self._syllable() for _ in range(2)]
            if kind == "river":
                parts = parts[:1]
            if kind in ("city", "country", "river") or self.rng.random() < 0.6:
                coda = self.rng.choice(sorted(T.CODAS))
                suffix = {"city": T.CITY_SUFFIXES, "country": T.COUNTRY_SUFFIXES}.get(kind)
                parts.append(self.rng.choice(suffix) if suffix else (coda, T.CODAS[coda]))
            if parts[-2][0][-1] in "aeiou" and parts[-1][0][0] in "aeiou":  # "Fasi" + "ia" -> "Fasia"
                parts[-2] = (parts[-2][0][:-1], parts[-2][1])
            en, zh = "".join(p[0] for p in parts).capitalize(), "".join(p[1] for p in parts)
            if kind == "organisation":
                suffix_en, suffix_zh = self.rng.choice(T.ORG_SUFFIXES)
                en, zh = f"{en} {suffix_en}", zh + suffix_zh
            if en not in self.used and zh not in self.used:
                self.used.update((en, zh))
                return en, zh
        raise RuntimeError(f"ran out of {kind} names")


# ------------------------------------------------------------------------------------------------ output
@dataclass
class WorldStats:
    documents: int = 0
    en_units: int = 0
    zh_units: int = 0
    chars: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0  # generating and writing the pretraining text

    @property
    def units(self) -> int:
        return self.en_units + self.zh_units

    @property
    def zh_share(self) -> float:
        return self.zh_units / max(self.units, 1)

    def add(self, doc: WorldDocument) -> None:
        self.documents += 1
        self.en_units += doc.en_units
        self.zh_units += doc.zh_units
        self.chars += len(doc.text)
        self.by_kind[doc.kind] = self.by_kind.get(doc.kind, 0) + 1


def save_world(world: World, out_dir: str | Path, n_dialogues: int = 1000,
               dialogue_languages: tuple[str, ...] = ("en", "zh"),
               dialogue_kinds: tuple[str, ...] = tuple(k for k in _DIALOGUE_KINDS if k != "fresh")) -> WorldStats:
    """Write the world to `out_dir`: world.json (knowledge base and splits), pretrain.jsonl, sft.jsonl, search.jsonl,
    eval.jsonl and stats.json. Each file is written to a temporary name and moved into place."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stats = WorldStats()

    def write_pretrain(tmp: Path) -> None:
        start = time.perf_counter()
        with tmp.open("w", encoding="utf-8") as f:
            for doc in world.documents():
                stats.add(doc)
                f.write(json.dumps({"text": doc.text, "kind": doc.kind}, ensure_ascii=False) + "\n")
        stats.seconds = time.perf_counter() - start

    atomic_write(out / "pretrain.jsonl", write_pretrain)
    has_search = any(f.exposure == "search" and world.entities[f.entity].group == "A" for f in world.facts)
    kinds = tuple(k for k in dialogue_kinds if k != "search" or has_search)
    rows = {
        "sft.jsonl": [d.as_dict() for d in world.dialogues(n_dialogues, dialogue_languages, kinds)],
        "search.jsonl": [{"id": i, "text": t} for i, t in enumerate(world.search_documents())],
        "eval.jsonl": [asdict(q) for q in world.questions() + world.arithmetic_questions(100)
                       + world.equation_questions(50) + world.unknown_questions(50)],
    }
    for name, items in rows.items():
        text = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)
        atomic_write(out / name, lambda tmp, text=text: tmp.write_text(text, encoding="utf-8"))
    meta = {"summary": world.summary(), "documents": stats.documents, "units": stats.units,
            "en_units": stats.en_units, "zh_units": stats.zh_units, "zh_share": stats.zh_share,
            "chars": stats.chars, "documents_by_kind": stats.by_kind, "pretrain_seconds": round(stats.seconds, 3)}
    for name, data in (("world.json", world.to_json()), ("stats.json", meta)):
        text = json.dumps(data, ensure_ascii=False, indent=1)
        atomic_write(out / name, lambda tmp, text=text: tmp.write_text(text, encoding="utf-8"))
    return stats

