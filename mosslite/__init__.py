"""mosslite: rebuild MOSS, the bilingual conversational model, from scratch in readable Python."""

import os

__version__ = "0.1.0"


def is_smoke() -> bool:
    """True when MOSSLITE_SMOKE is set: notebooks and experiments shrink to a seconds-long run (used by CI)."""
    return os.environ.get("MOSSLITE_SMOKE", "").lower() not in ("", "0", "false", "no")


def cache_dir() -> "os.PathLike[str]":
    """Where mosslite keeps generated corpora, trained tokenizers and pretrained bases: $MOSSLITE_CACHE or ~/.cache/mosslite."""
    from pathlib import Path

    path = Path(os.environ.get("MOSSLITE_CACHE", Path.home() / ".cache" / "mosslite"))
    path.mkdir(parents=True, exist_ok=True)
    return path
