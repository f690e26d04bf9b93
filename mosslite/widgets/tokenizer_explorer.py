"""Tokenizer explorer: type any text, see its tokens as coloured pieces with their ids, switch tokenizers."""

from __future__ import annotations

import html
from collections.abc import Mapping

import ipywidgets as w

COLOURS = ["#ffd8a8", "#b2f2bb", "#a5d8ff", "#eebefa", "#ffec99", "#99e9f2", "#ffc9c9", "#d0bfff"]
VISIBLE = {" ": "·", "\n": "↵", "\t": "→", "\r": "␍"}  # whitespace made visible, so runs and newlines can be seen


def token_pieces(tokenizer, text: str, allowed_special: set[str] | str = "none") -> list[tuple[int, str]]:
    """(id, text) per token of `text`; bytes that are not a whole UTF-8 character show escaped, e.g. `\\xe4` (an
    English vocabulary spends two or three such tokens on one Chinese character)."""
    return [(i, tokenizer.token_bytes(i).decode("utf-8", errors="backslashreplace"))
            for i in tokenizer.encode(text, allowed_special=allowed_special)]


def pieces_html(pieces: list[tuple[int, str]], special_ids: set[int] = frozenset()) -> str:
    """One coloured box per token with its id underneath; special tokens get a red outline."""
    boxes = []
    for k, (i, piece) in enumerate(pieces):
        shown = html.escape("".join(VISIBLE.get(c, c) for c in piece))
        border = "2px solid #e03131" if i in special_ids else "1px solid #adb5bd"
        boxes.append(f'<span style="display:inline-block;margin:2px;padding:1px 3px;border:{border};'
                     f'background:{COLOURS[k % len(COLOURS)]};text-align:center;font-family:monospace">{shown}'
                     f'<br><small style="color:#495057">{i}</small></span>')
    return '<div style="line-height:1.2">' + "".join(boxes) + "</div>"


def counts_line(text: str, pieces: list[tuple[int, str]]) -> str:
    """Characters, bytes, tokens and characters per token: the cost of `text` under one tokenizer."""
    ratio = len(text) / max(len(pieces), 1)
    return (f"{len(text)} characters · {len(text.encode('utf-8'))} bytes · {len(pieces)} tokens · "
            f"{ratio:.2f} characters/token")


class TokenizerExplorer(w.VBox):
    """A tokenizer menu, a special-tokens switch and a text box; the pieces redraw on every change."""

    def __init__(self, tokenizers: Mapping[str, object], text: str = "") -> None:
        if not tokenizers:
            raise ValueError("tokenizer_explorer needs at least one tokenizer, e.g. {'scratch': tokenizer}")
        self.tokenizers = dict(tokenizers)
        self.dropdown = w.Dropdown(options=list(self.tokenizers), description="tokenizer")
        self.special = w.Checkbox(value=False, description="allow special tokens")
        self.textarea = w.Textarea(value=text, layout=w.Layout(width="100%", height="80px"))
        self.counts, self.view = w.HTML(), w.HTML()
        for control in (self.dropdown, self.special, self.textarea):
            control.observe(self.redraw, names="value")
        super().__init__([w.HBox([self.dropdown, self.special]), self.textarea, self.counts, self.view])
        self.redraw()

    def redraw(self, _=None) -> None:
        name, text = self.dropdown.value, self.textarea.value
        tokenizer = self.tokenizers[name]
        pieces = token_pieces(tokenizer, text, "all" if self.special.value else "none")
        self.counts.value = f"{name}: {counts_line(text, pieces)}"
        self.view.value = pieces_html(pieces, set(tokenizer.special_tokens.values()))


def tokenizer_explorer(tokenizers: Mapping[str, object], text: str = "") -> TokenizerExplorer:
    """The explorer over named tokenizers (from scratch, fast, GPT-2, extended, …), starting on `text`."""
    return TokenizerExplorer(tokenizers, text)
