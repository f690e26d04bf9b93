"""The assistant runtime: one user message in, one MOSS turn out, streamed field by field.

For each turn the runtime writes every header itself and lets the model fill in the fields in order: inner thoughts
(to `<eot>`), commands (to `<eoc>`), then — the second pass — it runs the commands with the enabled tools, writes
their results, and the model writes the answer (to `<eom>`). Each field also stops at any *other* end token and at
a role header written as plain text, so the model can never start a role of its own. The CLI chat, the Jupyter chat
panel, the HTTP server and the tool-use experiments all use this one loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from mosslite.chat import (
    END_TOKENS,
    HEADERS,
    Conversation,
    MetaInstruction,
    Turn,
    encode_pieces,
    fit_to_context,
)
from mosslite.generate import SamplingConfig, stream
from mosslite.model import Transformer
from mosslite.tools import Toolbox

MODEL_FIELDS = ("inner_thoughts", "commands", "moss")  # what the model writes, in order; results come between


@dataclass(frozen=True)
class Event:
    """A piece of a turn as it happens: `field` is one of the five turn fields; `done` marks a field's end."""

    field: str
    text: str
    done: bool = False


@dataclass
class Assistant:
    model: Transformer
    tokenizer: object  # mosslite.tokenizer Tokenizer: encode, decode, special_tokens
    toolbox: Toolbox = field(default_factory=lambda: Toolbox(enabled=()))
    meta: MetaInstruction = field(default_factory=MetaInstruction)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    max_new_tokens: int = 128  # per field
    seed: int | None = None
    # False: when the conversation enables no tool, the runtime itself writes "None" for inner thoughts and commands
    # and the model writes only the answer: one generation pass instead of three, the same tokens a tuned model writes.
    think: bool = True
    # Where tokens come from: `generate.stream` by default; the HTTP server passes its batching engine's `stream`.
    token_stream: Callable[..., Iterator[int]] = stream

    def __post_init__(self) -> None:
        missing = [t for t in END_TOKENS.values() if t not in self.tokenizer.special_tokens]
        if missing:
            raise ValueError(f"the tokenizer lacks the chat end tokens {missing}; train it with MOSS_SPECIAL_TOKENS")
        self.end_ids = {name: self.tokenizer.special_tokens[tok] for name, tok in END_TOKENS.items()}
        self.stop_ids = set(self.end_ids.values()) | {self.tokenizer.special_tokens.get("<|endoftext|>", -1)}

    def new_conversation(self) -> Conversation:
        return Conversation(meta=self.meta)

    def respond(self, conversation: Conversation, message: str) -> Iterator[Event]:
        """Append a turn answering `message` to `conversation` (in place), yielding its text as it is produced."""
        turn = Turn(human=message, moss="")
        conversation.turns.append(turn)
        # Tools this conversation may use are those enabled both in the meta instruction and in the toolbox.
        toolbox = replace(self.toolbox, enabled=tuple(t for t in self.toolbox.enabled if t in conversation.meta.tools))
        for name in MODEL_FIELDS:
            if name == "moss":
                turn.results = toolbox.run_all(turn.commands) if turn.commands.strip() != "None" else "None"
                yield Event("results", turn.results, done=True)
            elif not self.think and not toolbox.enabled:
                setattr(turn, name, "None")
                yield Event(name, "None", done=True)
                continue
            pieces = []
            for delta in self._generate_field(conversation, name):
                pieces.append(delta)
                yield Event(name, delta)
            setattr(turn, name, "".join(pieces).strip())
            yield Event(name, "", done=True)

    def reply(self, conversation: Conversation, message: str) -> Turn:
        """`respond`, run to the end: the finished turn."""
        for _ in self.respond(conversation, message):
            pass
        return conversation.turns[-1]

    def _generate_field(self, conversation: Conversation, name: str) -> Iterator[str]:
        """Generate one field's content to its end token, yielding the new text as whole characters."""
        budget = self.model.config.block_size - self.max_new_tokens
        fitted = fit_to_context(conversation, self.tokenizer, budget, open_field=name)
        conversation.turns[:] = fitted.turns  # drop the turns that no longer fit, so the history stays consistent
        prompt, _ = encode_pieces(fitted.pieces(open_field=name), self.tokenizer)
        ids: list[int] = []
        shown = ""
        s = self.sampling
        for token in self.token_stream(self.model, prompt, self.max_new_tokens, temperature=s.temperature,
                                       top_k=s.top_k, top_p=s.top_p, repetition_penalty=s.repetition_penalty,
                                       stop_tokens=self.stop_ids, seed=self.seed):
            if token in self.stop_ids:
                break
            ids.append(token)
            text = self.tokenizer.decode(ids)
            if text.endswith("\ufffd"):  # hold back a character whose UTF-8 bytes are still arriving
                continue
            text, found = cut_at_header(text)
            if found:  # the model wrote a role header as plain text: the field ends before it
                break
            visible = text[: len(text) - _header_start(text)]  # hold back what may become a header
            if len(visible) > len(shown):
                yield visible[len(shown):]
                shown = visible
        text = cut_at_header(self.tokenizer.decode(ids))[0]
        if text != shown:
            yield text[len(shown):]


_ROLE_HEADERS = tuple(HEADERS.values())


def cut_at_header(text: str) -> tuple[str, bool]:
    """`text` up to the first role header in it ("<|Human|>:" …), and whether there was one. Headers are plain text
    to the tokenizer, so a model can write one without any end token; the runtime never lets it start a role."""
    cuts = [i for i in (text.find(h) for h in _ROLE_HEADERS) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


def _header_start(text: str) -> int:
    """How many trailing characters of `text` could be the start of a role header (to hold back while streaming)."""
    for n in range(min(len(text), max(map(len, _ROLE_HEADERS)) - 1), 0, -1):
        if any(h.startswith(text[-n:]) for h in _ROLE_HEADERS):
            return n
    return 0
