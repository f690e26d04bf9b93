"""What one cell of the translation experiment is: a data design, a Chinese share, a model, a length and a seed.

A `Cell` names everything that changes a result; `world_config(cell)` turns it into the bilingual world it trains on,
and `cache_key` hashes exactly the fields a stage depends on, so a pretrained base is reused by every fine-tuning and
probe that shares them (and never by one that does not).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import MISSING, asdict, dataclass, fields, replace

from mosslite.data.world import WorldConfig

# The world every cell shares: 48 people (24 in group A, whose facts may appear in Chinese and in SFT; 24 in group B,
# whose facts appear only in English), four relations with 8 values each, word-segmented text so a small BPE gives
# one token per word. No tool-only facts and no arithmetic: every fact is in pretraining, every token is about facts.
BASE_WORLD = dict(n_entities=48, kinds=("person",), attributes=("city", "color", "food", "pet"), n_values=8,
                  heldout=0.0, arithmetic=0.0, segmented=True, en_qa=0.2)

# How the Chinese text is made (WorldConfig knobs). Every design keeps group B out of Chinese text entirely.
_MIX = dict(zh_parallel=0.55, zh_qa=0.35, zh_dictionary=0.03, zh_code_switch=True)
DESIGNS: dict[str, dict] = {
    # Prototype 2's mix plus bilingual-forum lines: 55% incidental parallel pairs, 35% Chinese questions (half of them
    # answered in Chinese, half in English), 10% plain statements, 3% word lists; Latin names stay Latin in Chinese.
    # Every question-answer line, English FAQ lines and Chinese questions alike, is laid out as a chat-log turn, as
    # chat transcripts quoted on web pages are: the chat format meets Chinese questions in pretraining (about group
    # A only), so English-only tuning finds a route from a Chinese question to the answer already there.
    "default": dict(_MIX, zh_cross_qa=0.5, qa_layout="chat"),
    # The same mix with every question-answer line as plain text (the default of the first exploration).
    "inline": dict(_MIX, zh_cross_qa=0.5),
    # Prototype 2's mix exactly (plain-text lines): every Chinese question is answered in Chinese.
    "prototype": dict(_MIX),
    # Comparable text only: Chinese statements about group A, no translations, no questions, no word lists.
    "comparable": dict(zh_parallel=0.0, zh_qa=0.0, zh_dictionary=0.0, zh_code_switch=True),
    # Chinese question-answer lines (and statements), no parallel text, no English answers.
    "qa": dict(zh_parallel=0.0, zh_qa=0.7, zh_dictionary=0.0, zh_code_switch=True),
    # Incidental parallel pairs only (plus word lists): what bilingual web pages give for free.
    "parallel": dict(zh_parallel=1.0, zh_qa=0.0, zh_dictionary=0.03, zh_code_switch=True),
    # Prototype 2's mix where half the parallel pairs are FAQ lines with their translation (questions aligned too).
    "parallel-qa": dict(_MIX, zh_parallel_qa=0.5),
    # The default mix with names transliterated in Chinese (科洛布): no token is shared across the languages.
    "no-code-switch": dict(_MIX, zh_cross_qa=0.5, qa_layout="chat", zh_code_switch=False),
}

SIZES = ("toy", "tiny", "small")


@dataclass(frozen=True)
class Cell:
    """One run: pretrain on `design` at Chinese share `zh` for `steps`, fine-tune on English chat, probe."""

    zh: float = 0.01  # share of pretraining units in Chinese sentences
    size: str = "tiny"  # a mosslite.config preset
    design: str = "default"  # a key of DESIGNS
    steps: int = 2000  # pretraining optimizer steps (batch_size x context tokens each)
    seed: int = 0  # draws the world, the initial weights and the data order
    tune: str = "full"  # fine-tuning recipe, a key of TUNES

    def __post_init__(self) -> None:
        if self.design not in DESIGNS:
            raise ValueError(f"design={self.design!r} is unknown; choose one of {', '.join(DESIGNS)}")
        if self.size not in SIZES:
            raise ValueError(f"size={self.size!r} is not an experiment size; choose one of {', '.join(SIZES)}")
        if self.tune not in TUNES:
            raise ValueError(f"tune={self.tune!r} is unknown; choose one of {', '.join(TUNES)}")
        if not 0 <= self.zh <= 0.5:
            raise ValueError(f"zh={self.zh} must be a share between 0 and 0.5 (0.01 means 1%)")
        if self.steps < 10:
            raise ValueError(f"steps={self.steps} is too short to pretrain anything; use at least 10")

    @property
    def label(self) -> str:
        return f"{self.design}/{self.size}/zh={self.zh:g}/steps={self.steps}/{self.tune}/seed={self.seed}"


@dataclass(frozen=True)
class Tune:
    """An English-only instruction-tuning recipe (SFTConfig fields)."""

    finetune: str = "full"
    max_steps: int = 200
    lr: float = 1e-3
    dialogues: int = 1000
    lora_rank: int = 8
    questions: int | None = None  # ask only the first this many questions of each probe (None: all of them)
    answer_template: int | None = None  # English answers in one statement template (0: the person's name first)


TUNES: dict[str, Tune] = {
    "full": Tune(),
    "lora": Tune(finetune="lora", lr=3e-3, lora_rank=8),
    "name-first": Tune(answer_template=0),  # "Kelob lives in Morvik ." never "The city where Kelob lives is …"
    "short": Tune(max_steps=60),
    "gentle": Tune(lr=3e-4),
    "smoke": Tune(max_steps=20, dialogues=64, questions=12),  # seconds: tests and the notebook's smoke mode
}


@dataclass(frozen=True)
class Training:
    """Pretraining knobs that are not axes: fixed for every cell so cells differ only in what they name."""

    batch_size: int = 16
    context: int = 128  # long enough for one chat turn with the compact meta instruction
    lr: float = 2e-3
    warmup_steps: int = 100
    corpus_tokens: int = 1_000_000  # about this much world text is generated and packed (it is then sampled)


TRAINING = Training()


def world_config(cell: Cell) -> WorldConfig:
    """The bilingual world of `cell` (its seed draws names, facts and the A/B split)."""
    # About as much text as the run reads (at most corpus_tokens); one round over the 192 facts is ~1,850 units.
    tokens = min(TRAINING.corpus_tokens, max(50_000, cell.steps * TRAINING.batch_size * TRAINING.context))
    docs_per_fact = max(10, round(tokens / 1850))
    design = DESIGNS[cell.design]
    if cell.zh == 0:  # no Chinese text: designs differ only in the layout of the English question-answer lines
        design = {**DESIGNS["inline"], "qa_layout": design.get("qa_layout", "inline")}
    return WorldConfig(seed=cell.seed, zh_share=cell.zh, docs_per_fact=docs_per_fact, **BASE_WORLD, **design)


def tokenizer_world(cell: Cell) -> WorldConfig:
    """The world the tokenizer is trained on: the cell's names and values but no Chinese share, so every share of
    one seed and design tokenizes identically (a share must not change the vocabulary it is compared on)."""
    return replace(world_config(cell), zh_share=0.0, zh_parallel=0.0, zh_qa=0.0, zh_dictionary=0.0,
                   zh_parallel_qa=0.0, zh_cross_qa=0.0)


def cache_key(*parts) -> str:
    """A short stable hash of JSON-able parts: the name of a cached stage. A dataclass becomes the dict of its fields
    that differ from their defaults, so a knob added later (at its default) leaves every existing key unchanged."""
    def plain(x):
        if hasattr(x, "__dataclass_fields__"):
            return {f.name: plain(getattr(x, f.name)) for f in fields(x) if getattr(x, f.name) != _default(f)}
        if isinstance(x, (list, tuple)):
            return [plain(v) for v in x]
        if isinstance(x, dict):
            return {str(k): plain(v) for k, v in sorted(x.items())}
        return x

    blob = json.dumps([plain(p) for p in parts], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _default(f):
    if f.default is not MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not MISSING else MISSING


def parse_point(text: str) -> Cell:
    """A cell from "zh=0.01,size=tiny,seed=0" (any Cell fields; the rest keep their defaults)."""
    kinds = {f.name: f.type for f in fields(Cell)}
    values: dict = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, eq, raw = item.partition("=")
        if not eq or key not in kinds:
            raise ValueError(f"--point item {item!r}: write key=value with key one of {', '.join(kinds)}")
        kind = kinds[key]
        values[key] = float(raw) if kind == "float" else int(raw) if kind == "int" else raw
    return Cell(**values)


def to_dict(cell: Cell) -> dict:
    return asdict(cell)
