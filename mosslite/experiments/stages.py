"""What the experiments' cached stages share: a stage folder is finished when its done.json exists, written last,
so a run killed mid-stage is redone rather than reused."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def stage_done(folder: Path) -> dict | None:
    """The info a finished stage left in `folder`, or None if it never finished."""
    marker = Path(folder) / "done.json"
    return json.loads(marker.read_text(encoding="utf-8")) if marker.is_file() else None


def finish_stage(folder: Path, info: dict) -> dict:
    """Mark `folder` finished with `info` (the last write of a stage); returns `info`."""
    (Path(folder) / "done.json").write_text(json.dumps(info, indent=1, ensure_ascii=False), encoding="utf-8")
    return info


def load_average() -> float:
    """The 1-minute load average, recorded beside timings so a reader can judge them (NaN where unknown)."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else float("nan")


def stage_key(*parts) -> str:
    """A short hash of a stage's JSON-able inputs: the name of its cache folder (anything else is hashed as str)."""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:10]
