"""MOSS issue #315, reproduced: how added whitespace tokens made encode → decode lose newlines.

MOSS's tokenizer (a slow `transformers` tokenizer of the v4.25 era) inherited CodeGen's 38 whitespace tokens, runs of
2-31 spaces and 2-9 tabs, as *added tokens*. The slow tokenizer splits text on added tokens first and, by default,
strips the whitespace on both sides of each one. A newline between two space runs is whitespace, so it vanishes:
"a  \\n  b" becomes "a", "  ", "  ", "b" (MOSS: [64, 106058, 106058, 65]), and code loses its line breaks.
mosslite needs no added whitespace tokens: whitespace runs are ordinary chunks of the regex pre-split and BPE learns
merges for them, so nothing is ever stripped and every string round-trips.
"""

from __future__ import annotations

from collections.abc import Iterable

import regex

# In MOSS's order: 31 spaces … 2 spaces, then 9 tabs … 2 tabs (ids 106029-106066 in MOSS).
CODEGEN_WHITESPACE = [" " * n for n in range(31, 1, -1)] + ["\t" * n for n in range(9, 1, -1)]


def codegen_whitespace_tokens(first_id: int) -> dict[str, int]:
    """CodeGen's whitespace tokens as added tokens numbered from `first_id` (MOSS: 106029)."""
    return {token: first_id + i for i, token in enumerate(CODEGEN_WHITESPACE)}


def legacy_split(text: str, added_tokens: Iterable[str]) -> list[tuple[str, bool]]:
    """Cut `text` into (piece, is_added) the way slow `transformers` tokenizers did: longest added token first, then
    the default that caused #315, strip whitespace from the text on both sides of every added token."""
    alternatives = "|".join(regex.escape(t) for t in sorted(added_tokens, key=len, reverse=True))
    pieces = regex.split(f"({alternatives})", text)  # odd positions hold the added tokens
    for i in range(1, len(pieces), 2):
        pieces[i - 1] = pieces[i - 1].rstrip()
        pieces[i + 1] = pieces[i + 1].lstrip()
    return [(piece, i % 2 == 1) for i, piece in enumerate(pieces) if piece]


def legacy_encode(tokenizer, text: str, added_tokens: dict[str, int]) -> list[int]:
    """Ids as MOSS's tokenizer produced them: added tokens by `added_tokens`, the rest by `tokenizer`."""
    ids: list[int] = []
    for piece, added in legacy_split(text, added_tokens):
        ids += [added_tokens[piece]] if added else tokenizer.encode(piece)
    return ids


def legacy_decode(tokenizer, ids: Iterable[int], added_tokens: dict[str, int]) -> str:
    """The text of `legacy_encode`'s ids: whatever whitespace the split stripped is gone for good."""
    names = {i: token for token, i in added_tokens.items()}
    out, run = [], []
    for i in ids:
        if i in names:
            out += [tokenizer.decode(run), names[i]]
            run = []
        else:
            run.append(i)
    return "".join(out) + tokenizer.decode(run)
