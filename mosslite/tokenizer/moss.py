"""MOSS's own tokenizer files as a mosslite tokenizer, so a run can fine-tune or chat with the real model's ids.

MOSS ships a slow GPT-2-style tokenizer: `vocab.json` (byte-level pieces → ids, GPT-2's 50,257 then ~55.8K appended,
mostly Chinese, ending at `<|endoftext|>` = 106028), `merges.txt` (merge priority, one pair per line) and
`added_tokens.json` (CodeGen's 38 whitespace runs at 106029-106066, then `<eoh>` `<eom>` `<eot>` `<eoc>` `<eor>` at
106067-106071). Here the vocabulary and merges become a `FastBPE` with GPT-2's pre-split; `<|endoftext|>` and the
chat end tokens become special tokens (produced only from text when explicitly allowed). The whitespace runs stay
decodable but are never produced: whitespace is ordinary byte-level BPE here, so every string round-trips. MOSS's own
split on them (issue #315, which drops newlines) is `legacy_encode(tokenizer, text, moss_whitespace_tokens(folder))`.
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer, decoders, models

from mosslite.tokenizer.bpe import GPT2_PATTERN, MOSS_SPECIAL_TOKENS
from mosslite.tokenizer.fast import FastBPE, added_token_entries, byte_level_pre_tokenizer

FILES = ("vocab.json", "merges.txt")


def _read_json(path: Path) -> dict[str, int]:
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not a readable JSON file: {err}") from err
    if not isinstance(table, dict) or not all(isinstance(i, int) for i in table.values()):
        raise ValueError(f"{path} should map each token (a string) to its id (an integer)")
    return table


def read_merges(path: Path) -> list[tuple[str, str]]:
    """merges.txt's pairs in priority order; its `#version` header and blank lines are skipped."""
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#version"):
            continue
        parts = line.split(" ")
        if len(parts) != 2:
            raise ValueError(f"{path}, line {number}: expected two pieces separated by one space, got {line!r}")
        pairs.append((parts[0], parts[1]))
    return pairs


def moss_whitespace_tokens(folder: str | Path) -> dict[str, int]:
    """The added tokens MOSS's slow tokenizer split text on before BPE (CodeGen's whitespace runs), for
    `legacy_encode`; empty when the folder has no added_tokens.json."""
    path = Path(folder) / "added_tokens.json"
    added = _read_json(path) if path.is_file() else {}
    return {token: i for token, i in added.items() if token.strip(" \t") == ""}


def load_moss_tokenizer(folder: str | Path) -> FastBPE:
    """The tokenizer in a MOSS (or any GPT-2-style) Hugging Face folder: vocab.json + merges.txt, and
    added_tokens.json when present. Ids are MOSS's: a MOSS checkpoint imported with `mosslite convert` reads them."""
    folder = Path(folder)
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} lacks {', '.join(missing)}: expected a GPT-2-style tokenizer folder "
                                f"(vocab.json, merges.txt, optionally added_tokens.json), such as MOSS's")
    vocab = _read_json(folder / "vocab.json")
    merges = read_merges(folder / "merges.txt")
    added_path = folder / "added_tokens.json"
    added = _read_json(added_path) if added_path.is_file() else {}
    taken = {i: t for t, i in vocab.items()}
    clashes = [f"{t!r} = {i} (vocab.json has {taken[i]!r})" for t, i in added.items() if taken.get(i, t) != t]
    if clashes:
        raise ValueError(f"{added_path}: ids already used in vocab.json: {clashes[:5]}")
    specials = {t: i for t, i in {**vocab, **added}.items() if t in MOSS_SPECIAL_TOKENS}
    hf = Tokenizer(models.BPE(vocab={t: i for t, i in vocab.items() if t not in specials}, merges=merges))
    hf.pre_tokenizer = byte_level_pre_tokenizer(GPT2_PATTERN)
    hf.decoder = decoders.ByteLevel()
    doc = json.loads(hf.to_str())
    doc["added_tokens"] = added_token_entries({**added, **specials}, special=set(specials))
    return FastBPE(doc)
