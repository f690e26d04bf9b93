"""Loss-mask viewer: a conversation's tokens, coloured by whether they carry loss under a mask policy.

`mask_tokens` and `mask_html` are pure (the tests read the colours back); `LossMaskViewer` adds a policy toggle and a
conversation picker, so the difference between MOSS's policy (the user's words trained) and `assistant` is one click.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass

import ipywidgets as w

from mosslite.chat import Conversation, Policy, encode_pieces
from mosslite.widgets.tokenizer_explorer import VISIBLE

LOSS_COLOUR = "#8ce99a"  # green: the model is trained to predict this token
MASKED_COLOUR = "#e9ecef"  # grey: the token is context only (label -100)
# Who wrote each piece, shown as the underline so the policies can be compared against authorship.
WRITER_COLOURS = {"system": "#868e96", "runtime": "#1c7ed6", "human": "#f08c00", "assistant": "#2f9e44",
                  "tool": "#ae3ec9"}
POLICIES: tuple[Policy, ...] = ("moss", "assistant")


@dataclass(frozen=True)
class MaskedToken:
    id: int
    text: str  # the token's own text (bytes that are not a whole character show escaped)
    kind: str  # the piece it belongs to: meta, header, human, assistant, tool, end, newline
    writer: str  # system, runtime, human, assistant or tool
    trains: bool


def _token_text(tokenizer, token: int) -> str:
    if hasattr(tokenizer, "token_bytes"):
        return tokenizer.token_bytes(token).decode("utf-8", errors="backslashreplace")
    try:
        return tokenizer.decode([token])
    except UnicodeDecodeError:  # a tokenizer without token_bytes, on a piece of a character
        return "\ufffd"


def mask_tokens(conversation: Conversation, tokenizer, policy: Policy) -> list[MaskedToken]:
    """Every token of the rendered conversation with its piece and whether `policy` trains it; the ids and flags
    are exactly `encode_pieces` (and so `encode_for_training`) on the same conversation."""
    out: list[MaskedToken] = []
    for text, kind, writer in conversation.pieces():
        ids, train = encode_pieces([(text, kind, writer)], tokenizer, policy)
        out += [MaskedToken(i, _token_text(tokenizer, i), kind, writer, t) for i, t in zip(ids, train)]
    return out


def mask_summary(tokens: list[MaskedToken]) -> str:
    """How many tokens carry loss, and how they split by writer: the cost side of choosing a policy."""
    trained = [t for t in tokens if t.trains]
    by_writer: dict[str, int] = {}
    for t in trained:
        by_writer[t.writer] = by_writer.get(t.writer, 0) + 1
    split = ", ".join(f"{writer} {n}" for writer, n in by_writer.items())
    return (f"{len(trained)} of {len(tokens)} tokens carry loss ({len(trained) / max(len(tokens), 1):.0%})"
            + (f": {split}" if split else ""))


def mask_html(conversation: Conversation, tokenizer, policy: Policy) -> str:
    """One box per token: green background if it carries loss, grey if not, underlined in its writer's colour.
    Each box carries `data-loss="1"`/`"0"` so the colours can be checked against the policy's labels."""
    tokens = mask_tokens(conversation, tokenizer, policy)
    boxes = []
    for t in tokens:
        shown = html.escape("".join(VISIBLE.get(c, c) for c in t.text))
        background = LOSS_COLOUR if t.trains else MASKED_COLOUR
        colour = "#212529" if t.trains else "#868e96"
        tip = html.escape(f"id {t.id} · {t.kind} · written by {t.writer} · {'loss' if t.trains else 'masked'}")
        boxes.append(f'<span data-loss="{int(t.trains)}" title="{tip}" style="display:inline-block;margin:1px;'
                     f"padding:0 2px;background:{background};color:{colour};"
                     f'border-bottom:3px solid {WRITER_COLOURS[t.writer]};font-family:monospace">{shown}</span>')
        if t.text.endswith("\n"):
            boxes.append("<br>")  # keep the conversation's lines as lines
    legend = " ".join(f'<span style="border-bottom:3px solid {c};padding:0 3px">{name}</span>'
                      for name, c in WRITER_COLOURS.items())
    key = (f'<span style="background:{LOSS_COLOUR};padding:0 4px">carries loss</span> '
           f'<span style="background:{MASKED_COLOUR};padding:0 4px;color:#868e96">masked</span> · written by: {legend}')
    return (f'<div style="font-size:12px;margin-bottom:4px"><b>policy {html.escape(policy)}</b>: '
            f"{html.escape(mask_summary(tokens))}<br>{key}</div>"
            f'<div style="line-height:1.7">{"".join(boxes)}</div>')


class LossMaskViewer(w.VBox):
    """A conversation picker and a policy toggle over `mask_html`; the view redraws on every change."""

    def __init__(self, conversations: Mapping[str, Conversation], tokenizer, policy: Policy = "moss") -> None:
        if not conversations:
            raise ValueError("LossMaskViewer needs at least one conversation, e.g. {'greeting': Conversation(...)}")
        self.conversations, self.tokenizer = dict(conversations), tokenizer
        self.picker = w.Dropdown(options=list(self.conversations), description="conversation")
        self.policy = w.ToggleButtons(options=list(POLICIES), value=policy, description="policy")
        self.view = w.HTML()
        for control in (self.picker, self.policy):
            control.observe(self.redraw, names="value")
        super().__init__([w.HBox([self.picker, self.policy]), self.view])
        self.redraw()

    def redraw(self, _=None) -> None:
        conversation = self.conversations[self.picker.value]
        self.view.value = mask_html(conversation, self.tokenizer, self.policy.value)


def loss_mask_viewer(conversations: Mapping[str, Conversation], tokenizer, policy: Policy = "moss") -> LossMaskViewer:
    """The viewer over named conversations, starting on `policy`."""
    return LossMaskViewer(conversations, tokenizer, policy)
