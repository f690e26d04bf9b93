"""The dialogue flywheel: with consent, keep served conversations and users' feedback, and turn them into training data.

MOSS's team opened a public interface after launch partly to collect dialogues for the next round of training. Here a
conversation is stored only when the server runs with `--consent` *and* the request opts in (`store: true`), and
users rate answers (thumbs up/down) or write a better one. `export_sft` writes moss-003-sft-data JSONL for the SFT
loader; `export_pairs` writes preference pairs `{"prompt", "chosen", "rejected"}` that `mosslite align` reads
(`pairs:` in its config; see mosslite.data.preference).

Storage is SQLite in WAL mode with `synchronous=FULL`: every commit is fsynced before `save_*` returns, so a write the
server has acknowledged survives a crashed process *and* a power cut. (WAL's `NORMAL` skips that fsync: still safe
against a crashed process, but the last commits can vanish with the power. A commit costs about a millisecond here,
against seconds of generation per chat turn, so the stronger promise is free.)
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from mosslite.chat import Conversation, MetaInstruction, Turn
from mosslite.data.preference import PreferencePair, write_pairs_jsonl
from mosslite.data.sft import write_sft_jsonl

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,             -- the chat completion id the client got back
    created REAL NOT NULL,
    model TEXT NOT NULL,
    meta_instruction TEXT NOT NULL,  -- rendered, exactly as the model saw it
    turns TEXT NOT NULL              -- JSON list of the five-field turns; the last one is the answer being rated
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    created REAL NOT NULL,
    rating INTEGER CHECK (rating IN (-1, 1)),  -- thumbs down / up; NULL when only a better answer was given
    better_answer TEXT,
    comment TEXT
);
"""


@dataclass(frozen=True)
class Rated:
    """A stored conversation with its latest feedback: `rating` -1, 0 (none) or 1, and the edited answer if any."""

    id: str
    conversation: Conversation
    rating: int
    better_answer: str | None


class FlywheelStore:
    """Conversations and feedback in one SQLite file; each `save_*` returns only once its commit is on disk."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by the server's threads; the lock keeps each write a single transaction.
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._lock = threading.Lock()
        mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise ValueError(f"{self.path}: SQLite refused WAL mode (got {mode!r}); put the database on a local disk")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def save_conversation(self, conversation_id: str, conversation: Conversation, model: str) -> None:
        """Store one answered conversation under the completion id the client received."""
        turns = json.dumps([asdict(t) for t in conversation.turns], ensure_ascii=False)
        with self._lock, self._db:  # `with db` commits (or rolls back) this one transaction
            self._db.execute("INSERT INTO conversations VALUES (?, ?, ?, ?, ?)",
                             (conversation_id, time.time(), model, conversation.meta.render(), turns))

    def save_feedback(self, conversation_id: str, rating: int | None = None, better_answer: str | None = None,
                      comment: str | None = None) -> int:
        """Store a thumbs up (1) or down (-1) and/or an edited better answer for the conversation's last answer."""
        if rating not in (None, -1, 1):
            raise ValueError(f"rating={rating!r} must be 1 (thumbs up), -1 (thumbs down) or None")
        if rating is None and not better_answer:
            raise ValueError("feedback needs a rating (1 or -1) or a better_answer")
        with self._lock, self._db:
            if self._db.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)).fetchone() is None:
                raise KeyError(conversation_id)
            cursor = self._db.execute(
                "INSERT INTO feedback (conversation_id, created, rating, better_answer, comment) VALUES (?, ?, ?, ?, ?)",
                (conversation_id, time.time(), rating, better_answer, comment))
        return int(cursor.lastrowid)

    def conversations(self) -> Iterator[Rated]:
        """Every stored conversation, oldest first, with its latest rating and latest better answer."""
        with self._lock:
            rows = self._db.execute("SELECT id, meta_instruction, turns FROM conversations ORDER BY created, id").fetchall()
            feedback = self._db.execute(
                "SELECT conversation_id, rating, better_answer FROM feedback ORDER BY id").fetchall()
        ratings: dict[str, int] = {}
        edits: dict[str, str] = {}
        for conversation_id, rating, better in feedback:  # later feedback overrides earlier feedback
            if rating is not None:
                ratings[conversation_id] = rating
            if better:
                edits[conversation_id] = better
        for conversation_id, meta, turns in rows:
            conversation = Conversation(turns=[Turn(**t) for t in json.loads(turns)], meta=MetaInstruction(text=meta))
            yield Rated(conversation_id, conversation, ratings.get(conversation_id, 0), edits.get(conversation_id))


def sft_conversations(store: FlywheelStore, min_rating: int = 0) -> list[Conversation]:
    """Conversations worth training on: an edited answer replaces the original (a person wrote it, so it counts as
    rated 1); otherwise the conversation's latest rating (0 when unrated) must be at least `min_rating`."""
    keep = []
    for rated in store.conversations():
        if rated.better_answer is not None:
            turns = rated.conversation.turns[:-1] + [Turn(**{**asdict(rated.conversation.turns[-1]),
                                                            "moss": rated.better_answer})]
            keep.append(Conversation(turns=turns, meta=rated.conversation.meta))
        elif rated.rating >= min_rating:
            keep.append(rated.conversation)
    return keep


def preference_pairs(store: FlywheelStore) -> list[dict[str, str]]:
    """`{"prompt", "chosen", "rejected"}` pairs: an edited answer beats the original; for the same prompt, a
    thumbs-up answer beats a thumbs-down one. The prompt is the MOSS rendering up to `<|MOSS|>:`, and each answer is
    what the model would write after it (`" answer<eom>"`), so prompt + chosen is exactly a training text."""
    pairs = []
    by_prompt: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for rated in store.conversations():
        prompt = rated.conversation.render(open_field="moss")
        original = rated.conversation.turns[-1].moss
        if rated.better_answer is not None and rated.better_answer != original:
            pairs.append({"prompt": prompt, "chosen": f" {rated.better_answer}<eom>", "rejected": f" {original}<eom>"})
        by_prompt[prompt][rated.rating].append(original)
    for prompt, answers in by_prompt.items():
        pairs += [{"prompt": prompt, "chosen": f" {good}<eom>", "rejected": f" {bad}<eom>"}
                  for good in answers[1] for bad in answers[-1] if good != bad]
    return pairs


def export_sft(db: str | Path, out: str | Path, min_rating: int = 0) -> int:
    """Write the store's conversations as moss-003-sft-data JSONL (see `sft_conversations`); returns the count."""
    store = open_existing(db)
    try:
        return write_sft_jsonl(sft_conversations(store, min_rating), out)
    finally:
        store.close()


def export_pairs(db: str | Path, out: str | Path) -> int:
    """Write the store's preference pairs as JSONL (see `preference_pairs`); returns the count."""
    store = open_existing(db)
    try:
        pairs = preference_pairs(store)
    finally:
        store.close()
    return write_pairs_jsonl([PreferencePair(**p) for p in pairs], out)  # the format alignment reads


def open_existing(db: str | Path) -> FlywheelStore:
    """A store that must already exist (an export never creates an empty database by mistake)."""
    if not Path(db).is_file():
        raise FileNotFoundError(f"no flywheel database at {db}; `mosslite serve --consent --flywheel-db FILE` makes one")
    return FlywheelStore(db)


# ----------------------------------------------------------------------------------------------------------- CLI
def _export(args: argparse.Namespace) -> int:
    n = export_sft(args.db, args.out, args.min_rating)
    print(f"wrote {n} conversation(s) from {args.db} to {args.out} (moss-003-sft-data JSONL)")
    if args.pairs:
        print(f"wrote {export_pairs(args.db, args.pairs)} preference pair(s) to {args.pairs}")
    return 0


def add_export_command(actions) -> None:
    """Add `export-sft` to the `mosslite data` command group (`actions` is its subparsers object)."""
    p = actions.add_parser("export-sft", help="flywheel database -> moss-003-sft-data JSONL (+ preference pairs)")
    p.add_argument("--db", type=Path, required=True, help="the SQLite file `mosslite serve --consent` wrote")
    p.add_argument("--out", type=Path, required=True, help="JSONL file to write")
    p.add_argument("--min-rating", type=int, default=0, choices=[-1, 0, 1],
                   help="keep conversations rated at least this (unrated = 0; an edited answer counts as 1)")
    p.add_argument("--pairs", type=Path, help="also write {prompt, chosen, rejected} preference pairs here")
    p.set_defaults(func=_export)
