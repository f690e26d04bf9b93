"""The MOSS conversation format: a meta instruction, then turns of five fields, each a line ending in its own token.

    <|Human|>: …<eoh>            what the user says
    <|Inner Thoughts|>: …<eot>   the assistant thinking aloud (None without tools)
    <|Commands|>: …<eoc>         tool calls such as Search("…") (None when no tool is used)
    <|Results|>: …<eor>          what the tools returned, written by the runtime (None without calls)
    <|MOSS|>: …<eom>             the answer

A conversation is rendered as a list of pieces, each tagged with who writes it. Token ids are the pieces encoded one
by one (so training and inference see the same ids at every boundary), and a loss-mask *policy* says which kinds of
piece carry loss. The runtime, not the model, writes every role header: MOSS's demos left `<|MOSS|>:` out of the
prompt, and the model went on to invent roles of its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from mosslite.tools import TOOL_LINES

FIELDS = ("human", "inner_thoughts", "commands", "results", "moss")
HEADERS = {"human": "<|Human|>:", "inner_thoughts": "<|Inner Thoughts|>:", "commands": "<|Commands|>:",
           "results": "<|Results|>:", "moss": "<|MOSS|>:"}
END_TOKENS = {"human": "<eoh>", "inner_thoughts": "<eot>", "commands": "<eoc>", "results": "<eor>", "moss": "<eom>"}
# Who writes each field's content: the user, the assistant model, or the tool runtime.
WRITER = {"human": "human", "inner_thoughts": "assistant", "commands": "assistant", "results": "tool",
          "moss": "assistant"}

Kind = Literal["meta", "header", "human", "assistant", "tool", "end", "newline"]
Policy = Literal["moss", "assistant"]
IGNORE_INDEX = -100


def trains(kind: Kind, writer: str, policy: Policy) -> bool:
    """Whether a piece carries loss. `moss`: everything but the meta instruction and tool output, as MOSS trained
    (the user's words included). `assistant`: only what the assistant writes, its end tokens included."""
    if policy == "moss":
        return kind not in ("meta", "tool")
    if policy == "assistant":
        return writer == "assistant" and kind in ("assistant", "end")
    raise ValueError(f"unknown loss-mask policy {policy!r}; use 'moss' or 'assistant'")


DEFAULT_RULES = (
    "MOSS is a conversational assistant rebuilt from scratch by mosslite, an open teaching project.",
    "MOSS is helpful, honest and harmless; if it does not know an answer, it says so instead of guessing.",
    "MOSS answers in the language of the question: English or 中文.",
    "MOSS keeps private information private and declines requests that could cause harm.",
)


@dataclass(frozen=True)
class MetaInstruction:
    """Who the assistant is, its rules, and which tools this conversation enables (MOSS's wording for tools)."""

    rules: tuple[str, ...] = DEFAULT_RULES
    tools: tuple[str, ...] = ()  # any of "Search", "Calculate", "Solve"
    inner_thoughts: bool = True
    text: str | None = None  # a meta instruction given verbatim (e.g. read from moss-003-sft-data) wins over the rest

    def render(self) -> str:
        if self.text is not None:
            return self.text if self.text.endswith("\n") else self.text + "\n"
        lines = ["You are an AI assistant whose name is MOSS."] + [f"- {rule}" for rule in self.rules]
        lines.append("Capabilities and tools that MOSS can possess.")
        lines.append(f"- Inner thoughts: {'enabled' if self.inner_thoughts else 'disabled'}.")
        for tool, (label, api) in TOOL_LINES.items():
            lines.append(f"- {label}: enabled. API: {api}" if tool in self.tools else f"- {label}: disabled.")
        return "\n".join(lines) + "\n"


COMPACT_META = MetaInstruction(rules=("MOSS is helpful, honest and harmless.",))  # fits a toy model's context


@dataclass
class Turn:
    human: str
    moss: str = ""
    inner_thoughts: str = "None"
    commands: str = "None"
    results: str = "None"

    def get(self, name: str) -> str:
        return getattr(self, name)


@dataclass
class Conversation:
    turns: list[Turn] = field(default_factory=list)
    meta: MetaInstruction = field(default_factory=MetaInstruction)

    def pieces(self, open_field: str | None = None) -> list[tuple[str, Kind, str]]:
        """(text, kind, writer) for the whole conversation. With `open_field`, the last turn stops right after that
        field's header, which is the prompt the model continues (e.g. "moss" → ends in `<|MOSS|>:`)."""
        out: list[tuple[str, Kind, str]] = [(self.meta.render(), "meta", "system")]
        for i, turn in enumerate(self.turns):
            last = i == len(self.turns) - 1
            for name in FIELDS:
                writer = WRITER[name]
                out.append((HEADERS[name], "header", "runtime"))
                if last and name == open_field:
                    return out
                content_kind: Kind = {"human": "human", "assistant": "assistant", "tool": "tool"}[writer]
                out.append((" " + turn.get(name), content_kind, writer))
                out.append((END_TOKENS[name], "end", writer))
                out.append(("\n", "newline", "runtime"))
        return out

    def render(self, open_field: str | None = None) -> str:
        return "".join(text for text, _, _ in self.pieces(open_field))


class _Encoder(Protocol):
    special_tokens: dict[str, int]

    def encode(self, text: str, allowed_special="none") -> list[int]: ...


def encode_pieces(pieces: Sequence[tuple[str, Kind, str]], tokenizer: _Encoder,
                  policy: Policy = "assistant") -> tuple[list[int], list[bool]]:
    """Token ids and a parallel list saying which ids carry loss. End tokens become their single special id;
    everything else is encoded as plain text, so a user who types `<eom>` cannot end a turn."""
    ids: list[int] = []
    train: list[bool] = []
    for text, kind, writer in pieces:
        piece = [tokenizer.special_tokens[text]] if kind == "end" else tokenizer.encode(text)
        ids += piece
        train += [trains(kind, writer, policy)] * len(piece)
    return ids, train


def encode_for_training(conversation: Conversation, tokenizer: _Encoder, policy: Policy = "assistant",
                        max_tokens: int | None = None) -> tuple[list[int], list[int]]:
    """(input ids, labels) for next-token training: labels are the ids themselves where the policy trains them and
    IGNORE_INDEX elsewhere (the shift by one happens in the loss). Old turns are dropped whole, never cut mid-turn."""
    conversation = fit_to_context(conversation, tokenizer, max_tokens) if max_tokens else conversation
    ids, train = encode_pieces(conversation.pieces(), tokenizer, policy)
    return ids, [t if keep else IGNORE_INDEX for t, keep in zip(ids, train)]


def fit_to_context(conversation: Conversation, tokenizer: _Encoder, max_tokens: int,
                   open_field: str | None = None) -> Conversation:
    """Drop the oldest turns (keeping the meta instruction and the newest turn) until the rendering fits."""
    turns = list(conversation.turns)
    while True:
        trial = replace(conversation, turns=turns)
        length = len(encode_pieces(trial.pieces(open_field), tokenizer)[0])
        if length <= max_tokens:
            return trial
        if len(turns) <= 1:
            raise ValueError(f"the newest turn alone needs {length} tokens with the meta instruction, more than the "
                             f"{max_tokens} available; shorten the message or the meta instruction")
        turns = turns[1:]


_FIELD_PATTERN = re.compile(
    r"(<\|Human\|>|<\|Inner Thoughts\|>|<\|Commands\|>|<\|Results\|>|<\|MOSS\|>):\s?(.*?)(<eoh>|<eot>|<eoc>|<eor>|<eom>)",
    re.DOTALL,
)
_NAME_OF_HEADER = {header[:-1]: name for name, header in HEADERS.items()}


def parse(text: str) -> list[Turn]:
    """The turns of rendered text (the inverse of `render` after the meta instruction). A field whose end token
    does not match its header is an error naming the field."""
    turns: list[Turn] = []
    for match in _FIELD_PATTERN.finditer(text):
        name = _NAME_OF_HEADER[match[1]]
        if match[3] != END_TOKENS[name]:
            raise ValueError(f"{HEADERS[name]} ends with {match[3]}, expected {END_TOKENS[name]}")
        if name == "human":
            turns.append(Turn(human=match[2]))
        elif not turns:
            raise ValueError(f"{HEADERS[name]} appears before any {HEADERS['human']}")
        else:
            setattr(turns[-1], name, match[2])
    return turns
