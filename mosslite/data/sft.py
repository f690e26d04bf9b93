"""Dialogues for instruction tuning in the moss-003-sft-data layout, read and written as JSONL.

One JSON object per line: `conversation_id`, `meta_instruction`, `num_turns`, and `chat` with `turn_1` … `turn_N`, each
holding the five fields `Human`, `Inner Thoughts`, `Commands`, `Tool Responses`, `MOSS` as rendered lines (header,
content, end token). A bad record is reported with its line number and reason, never skipped silently.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from mosslite.chat import END_TOKENS, HEADERS, Conversation, MetaInstruction, Turn
from mosslite.fileio import atomic_write

T = TypeVar("T")

# moss-003-sft-data's field names, in turn order, and the Conversation field each one fills.
RECORD_FIELDS = {"Human": "human", "Inner Thoughts": "inner_thoughts", "Commands": "commands",
                 "Tool Responses": "results", "MOSS": "moss"}


@dataclass(frozen=True)
class BadRecord:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


def _field_content(value: str, name: str) -> str:
    """The content of one rendered field, e.g. '<|MOSS|>: Hi<eom>\\n' -> 'Hi'; tolerant of MOSS's whitespace."""
    header, end = HEADERS[name], END_TOKENS[name]
    match = re.fullmatch(rf"\s*{re.escape(header)}\s?(.*?)\s*{re.escape(end)}\s*", value, re.DOTALL)
    if not match:
        raise ValueError(f"expected '{header} …{end}', got {value[:60]!r}")
    return match[1]


def record_to_conversation(record: dict) -> Conversation:
    """One moss-003-sft-data record as a Conversation; raises ValueError naming the first problem."""
    if not isinstance(record, dict):
        raise ValueError("record is not a JSON object")
    for key in ("meta_instruction", "chat"):
        if key not in record:
            raise ValueError(f"missing key {key!r}")
    chat = record["chat"]
    if not isinstance(chat, dict) or not chat:
        raise ValueError("'chat' must be a non-empty object of turns")
    n = record.get("num_turns", len(chat))
    if n != len(chat) or set(chat) != {f"turn_{i}" for i in range(1, n + 1)}:
        raise ValueError(f"num_turns is {n} but chat has turns {sorted(chat)}")
    turns = []
    for i in range(1, n + 1):
        raw = chat[f"turn_{i}"]
        fields = {}
        for key, name in RECORD_FIELDS.items():
            value = raw.get(key, None)
            if value is None and name in ("human", "moss"):
                raise ValueError(f"turn_{i} has no {key!r}")
            try:
                fields[name] = _field_content(value, name) if value is not None else "None"
            except ValueError as err:
                raise ValueError(f"turn_{i}.{key}: {err}") from None
        turns.append(Turn(**fields))
    return Conversation(turns=turns, meta=MetaInstruction(text=record["meta_instruction"]))


def conversation_to_record(conversation: Conversation, conversation_id: int | str, **extra) -> dict:
    """The inverse of `record_to_conversation`: a record that moss-003-sft-data tooling (and this loader) reads."""
    chat = {}
    for i, turn in enumerate(conversation.turns, 1):
        chat[f"turn_{i}"] = {key: f"{HEADERS[name]} {turn.get(name)}{END_TOKENS[name]}\n"
                             for key, name in RECORD_FIELDS.items()}
    return {"conversation_id": conversation_id, "meta_instruction": conversation.meta.render(),
            "num_turns": len(conversation.turns), "chat": chat, **extra}


def read_sft_jsonl(path: str | Path, on_error: Literal["stop", "continue"] = "stop"
                   ) -> tuple[list[Conversation], list[BadRecord]]:
    """Conversations from a JSONL file. `on_error="stop"` raises at the first bad record (naming file and line);
    `"continue"` returns the bad records beside the good ones and warns with their count."""
    return read_jsonl_records(path, record_to_conversation, on_error, what="SFT data")


def read_jsonl_records(path: str | Path, parse: Callable[[Any], T], on_error: Literal["stop", "continue"] = "stop",
                       what: str = "JSONL") -> tuple[list[T], list[BadRecord]]:
    """`parse(record)` for every non-empty line of a JSONL file; a line that is not JSON, or that `parse` rejects with
    ValueError/TypeError, is a `BadRecord` with its line number: raised at once ("stop") or collected ("continue")."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {what} file at {path}")
    items, bad = [], []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                items.append(parse(json.loads(line)))
            except (ValueError, TypeError, AttributeError) as err:  # JSONDecodeError is a ValueError
                problem = BadRecord(number, str(err))
                if on_error == "stop":
                    raise ValueError(f"{path}: {problem} (pass on_error='continue' to collect bad records)") from None
                bad.append(problem)
    if bad:
        warnings.warn(f"{path}: {len(bad)} bad record(s) left out, first: {bad[0]}", stacklevel=3)
    return items, bad


def write_sft_jsonl(conversations: Iterable[Conversation], path: str | Path) -> int:
    """Write conversations as moss-003-sft-data JSONL (atomically); returns how many were written."""
    lines = [json.dumps(conversation_to_record(c, i), ensure_ascii=False) for i, c in enumerate(conversations, 1)]
    atomic_write(Path(path), lambda tmp: tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8"))
    return len(lines)
