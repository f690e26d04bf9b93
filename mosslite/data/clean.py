"""Cleaning raw text into pretraining text: a pipeline of named steps, each of which reports everything it changes.

    normalize     Unicode: full-width letters and digits to ASCII, punctuation in the form its script uses, NFKC
                  only where it cannot change meaning (x² stays x², not x2), invisible characters removed
    boilerplate   web furniture: navigation, share buttons, ads, image captions, footers, "related news" link lists
    language      script of every line and document; lines in other scripts and mixed-script spam are dropped,
                  and documents not in the wanted languages
    repeats       a paragraph repeated inside one document keeps only its first copy
    quality       heuristics on the document: too short, too many symbols, too repetitive
    exact_dup     the same document again (after normalisation)
    near_dup      nearly the same document again: MinHash over character 5-grams, LSH to find candidates

Nothing is dropped silently: every removal and edit is a `Change` with the step and the reason, and
`CleanResult.table()` counts them per step. `explain(page)` shows one page line by line with what happened to it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from mosslite.data.world import count_units


@dataclass
class Line:
    no: int  # line number in the original document
    text: str


@dataclass
class Doc:
    id: int
    lines: list[Line]
    lang: str = ""

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


@dataclass(frozen=True)
class Change:
    """One thing a step did: dropped a document or a line, or edited a line (`after` then holds the new text)."""

    step: str
    doc: int
    what: str  # "document", "line" or "edit"
    reason: str
    text: str
    line: int | None = None
    after: str | None = None


Log = Callable[[Change], None]


class Step:
    """A cleaning step: `__call__` returns the document (possibly changed) or None to drop it, logging why."""

    name = "step"
    description = ""

    def start(self) -> None:
        """Forget what earlier runs saw (steps that remember documents override this)."""

    def __call__(self, doc: Doc, log: Log) -> Doc | None:
        raise NotImplementedError

    def _drop_lines(self, doc: Doc, log: Log, reasons: dict[int, str]) -> Doc:
        for i, line in enumerate(doc.lines):
            if i in reasons:
                log(Change(self.name, doc.id, "line", reasons[i], line.text, line.no))
        doc.lines = [line for i, line in enumerate(doc.lines) if i not in reasons]
        return doc


# ------------------------------------------------------------------------------------------------- scripts
def script_of(char: str) -> str:
    """"han", "latin", "kana", "hangul", "cyrillic", "other" for letters; "" for anything else."""
    o = ord(char)
    if 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF:
        return "han"
    if char.isascii():
        return "latin" if char.isalpha() else ""
    if 0x3040 <= o <= 0x30FF:
        return "kana"
    if 0xAC00 <= o <= 0xD7AF or 0x1100 <= o <= 0x11FF:
        return "hangul"
    if 0x0400 <= o <= 0x04FF:
        return "cyrillic"
    if char.isalpha():
        return "latin" if o <= 0x024F else "other"
    return ""


LANG_OF_SCRIPT = {"han": "zh", "latin": "en", "kana": "ja", "hangul": "ko", "cyrillic": "ru", "other": "other"}
_SCRIPTS = tuple(LANG_OF_SCRIPT)
# script_of for every character of the Basic Multilingual Plane, as one-letter codes: counting scripts is then a
# str.translate and a few str.count calls, all in C (a Python call per character was the slowest part of cleaning).
_SCRIPT_CODES = {code: str(_SCRIPTS.index(s)) if (s := script_of(chr(code))) else None for code in range(0x10000)}


def script_counts(text: str) -> Counter:
    """How many letters of each script `text` has."""
    codes = text.translate(_SCRIPT_CODES)
    return Counter({s: n for i, s in enumerate(_SCRIPTS) if (n := codes.count(str(i)))})


def language_of(text: str) -> str:
    """The language a text is mostly in, judged by script: "zh", "en", "ja", "ko", "ru", "other", or "none"
    when it has no letters. Kana decides Japanese even amid kanji, as it does in real Japanese text."""
    counts = script_counts(text)
    if not counts:
        return "none"
    if counts["kana"] >= 0.1 * sum(counts.values()):
        return "ja"
    # A Chinese character or a Hangul block says about as much as three Latin letters: weigh them so.
    weighted = {s: n * (3 if s in ("han", "hangul") else 1) for s, n in counts.items()}
    return LANG_OF_SCRIPT[max(weighted, key=weighted.get)]


# --------------------------------------------------------------------------------------------- normalize
def _safe_nfkc_table() -> dict[int, str]:
    """Per-character NFKC, only for compatibility forms that keep meaning. Superscripts, fractions, circled and
    squared forms keep their look (x² is not x2); full-width punctuation is left to context (see Normalize)."""
    safe = {"<wide>", "<narrow>", "<noBreak>", "<font>", "<compat>"}
    table: dict[int, str] = {}
    for code in range(0x80, 0x10000):
        char = chr(code)
        tag = unicodedata.decomposition(char).split(" ")[0]
        if tag in safe and char not in "…‥":
            folded = unicodedata.normalize("NFKC", char)
            if not (len(folded) == 1 and folded.isascii() and not folded.isalnum() and folded != " "):
                table[code] = folded
    for code in (0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x00AD):  # zero-width characters, soft hyphen
        table[code] = ""
    for code in list(range(0x00, 0x09)) + [0x0B, 0x0C] + list(range(0x0E, 0x20)) + [0x7F]:
        table[code] = ""
    return table


_HALF_TO_FULL = {",": "，", "!": "！", "?": "？", ":": "：", ";": "；", "(": "（", ")": "）"}
_FULL_TO_HALF = {full: half for half, full in _HALF_TO_FULL.items()} | {"。": ".", "．": "."}
_HAN = r"[\u3400-\u9fff\uf900-\ufaff]"
_HAN_RE = re.compile(_HAN)
_TO_FULL_RE = re.compile(rf"(?<={_HAN})\s*([,!?:;()])|([,!?:;()])\s*(?={_HAN})|(?<={_HAN})\.(?=\s*$|{_HAN}|[“”\"])")
_FULL_RE = re.compile("[，！？：；（）。．]")
_SPACES_RE = re.compile(r"[ \t]{2,}")


class Normalize(Step):
    name = "normalize"
    description = "full-width letters/digits to ASCII, punctuation by script, safe NFKC, invisible characters"

    def __init__(self) -> None:
        self.table = _safe_nfkc_table()

    def __call__(self, doc: Doc, log: Log) -> Doc:
        for line in doc.lines:
            new, kinds = self.normalize(line.text)
            if new != line.text:
                log(Change(self.name, doc.id, "edit", ", ".join(f"{k} ×{n}" for k, n in kinds.items()),
                           line.text, line.no, new))
                line.text = new
        return doc

    def normalize(self, text: str) -> tuple[str, Counter]:
        """The normalised line and how many characters changed, by kind."""
        kinds: Counter = Counter()
        for char in set(text):
            if ord(char) in self.table:
                folded = self.table[ord(char)]
                kind = "invisible removed" if folded == "" else (
                    "full-width → ASCII" if unicodedata.decomposition(char).startswith("<wide>") else "NFKC")
                kinds[kind] += text.count(char)
        text = text.translate(self.table)
        if _HAN_RE.search(text):
            # In Chinese, ASCII punctuation touching a Chinese character takes the full-width form.
            text, n = _TO_FULL_RE.subn(lambda m: _HALF_TO_FULL.get(m[1] or m[2] or ".", "。"), text)
            kinds["ASCII punctuation → full-width"] += n
        else:
            text, n = _FULL_RE.subn(lambda m: _FULL_TO_HALF[m[0]], text)
            kinds["full-width punctuation → ASCII"] += n
        collapsed = _SPACES_RE.sub(" ", text).strip()
        if collapsed != text:
            kinds["whitespace collapsed"] += 1
        return collapsed, +kinds


# ------------------------------------------------------------------------------------------- boilerplate
# A link in a list starts with a bullet or carries a date.
_MARKED = re.compile(r"^\s*(?:[·•▪◆■□●○◇►▶\-*>]|\d{1,2}[.、)]|【)|\d{4}[-/年.]\d{1,2}[-/月.]\d{1,2}日?|"
                     r"[(（]\d{1,2}[-/]\d{1,2}[)）]|\d{1,2}-\d{1,2}\s*$")
# (reason, pattern, longest line it applies to, whether it applies to a finished sentence too). Keywords such as
# 推广 or "advertisement" also occur in real sentences ("我们要推广普通话。"), so those patterns only take lines that
# are not finished sentences; anchored patterns (a caption's "图为", a "©") are specific enough to take any line.
BOILERPLATE: list[tuple[str, str, int, bool]] = [
    ("navigation", r"^(?:首页|主页|Home)\s*[>»/|›]|(?:[^\s|>»·/]{1,8}\s*[|>»·/]\s*){3,}[^\s|>»·/]{1,8}\s*$", 120, True),
    ("login/menu", r"^(?:登录|注册|退出|设为首页|加入收藏|网站地图|Sign in|Log in|Register|Subscribe|Menu)(?:\W|$)", 16, True),
    ("share buttons", r"分享到|分享至|转发到|扫一扫|二维码|点赞|QQ空间|新浪微博|Share (?:on|this)|Tweet|Facebook|WhatsApp", 60,
     False),
    ("advertisement", r"广告|推广|赞助|Advertisement|Sponsored|立即(?:购买|下载|抢购)|点击(?:进入|购买|下载|查看)|Buy now|"
     r"Click here|限时优惠|免费领取", 80, False),
    ("image caption", r"^\s*(?:图为|图：|图片：|\(图\)|（图）|\[图片\]|（图片来源|图片来源|（摄影|摄影：|（新华社记者.{1,12}摄）|"
     r"Photo:|Image:|Caption:|Pictured:|\(Photo)", 120, True),
    ("footer", r"版权所有|Copyright|©|All rights reserved|ICP备", 100, True),
    ("footer", r"责任编辑|举报电话|联系我们|关于我们|Privacy Policy|Terms of (?:Use|Service)|^\s*(?:来源|编辑)[:：]\s*\S{1,12}\s*$",
     100, False),
]
_FINISHED = re.compile(r"[。！？.!?…][”\"']?\s*$")
RELATED = re.compile(r"^\W*(?:相关(?:新闻|阅读|文章|报道|推荐|链接)|热门(?:新闻|推荐|文章)|推荐阅读|延伸阅读|猜你喜欢|更多(?:新闻|精彩|阅读)|"
                     r"Related(?: news| articles| stories)?|Read more|More stories|Recommended(?: for you)?|Trending)"
                     r"\W*$", re.I)


def headline_like(text: str) -> bool:
    """A line that reads like a link in a list: short and not a finished sentence."""
    return count_units(text) <= 40 and not _FINISHED.search(text)


class Boilerplate(Step):
    name = "boilerplate"
    description = "navigation, share buttons, ads, captions, footers and 'related news' link lists"

    def __init__(self, min_list: int = 3) -> None:
        self.patterns = [(reason, re.compile(p, re.I), n, any_line) for reason, p, n, any_line in BOILERPLATE]
        self.min_list = min_list  # a run of this many bulleted or dated headlines is a link list, header or not

    def __call__(self, doc: Doc, log: Log) -> Doc:
        reasons: dict[int, str] = {}
        for i, line in enumerate(doc.lines):
            finished = bool(_FINISHED.search(line.text))
            for reason, pattern, longest, any_line in self.patterns:
                if len(line.text) <= longest and (any_line or not finished) and pattern.search(line.text):
                    reasons[i] = reason
                    break
        i = 0
        while i < len(doc.lines):  # a "related news" header takes the headlines under it along
            if RELATED.match(doc.lines[i].text):
                reasons[i] = "related-news header"
                j = i + 1
                while j < len(doc.lines) and (headline_like(doc.lines[j].text) or not doc.lines[j].text.strip()):
                    reasons.setdefault(j, "related-news link list")
                    j += 1
                i = j
            else:
                i += 1
        run: list[int] = []
        for i, line in enumerate(doc.lines + [Line(-1, "end")]):  # runs of bulleted/dated links, header or not
            marked = line.no >= 0 and bool(_MARKED.search(line.text))
            if marked and headline_like(line.text):
                run.append(i)
                continue
            if len(run) >= self.min_list:
                for j in run:
                    reasons.setdefault(j, "link list")
            run = []
        return self._drop_lines(doc, log, reasons)


# ----------------------------------------------------------------------------------------------- language
class Language(Step):
    name = "language"
    description = "per-line and per-document script detection; other scripts and mixed-script spam dropped"

    def __init__(self, languages: tuple[str, ...] = ("en", "zh"), min_letters: int = 4) -> None:
        self.languages, self.min_letters = languages, min_letters

    def __call__(self, doc: Doc, log: Log) -> Doc | None:
        counts = script_counts(doc.text)
        doc.lang = language_of(doc.text)
        if doc.lang not in self.languages:
            log(Change(self.name, doc.id, "document", f"language {doc.lang!r} not in {self.languages}", doc.text))
            return None
        if len(counts) < 3 and all(LANG_OF_SCRIPT[s] in self.languages for s in counts):
            return doc  # no line can be in another script, or mix three: skip the line-by-line pass
        reasons = {}
        for i, line in enumerate(doc.lines):
            counts = script_counts(line.text)
            scripts = [s for s, n in counts.items() if n >= 2]
            if len(scripts) >= 3:
                reasons[i] = f"mixed-script spam ({'+'.join(sorted(scripts))})"
            elif sum(counts.values()) >= self.min_letters and language_of(line.text) not in self.languages:
                reasons[i] = f"line in {language_of(line.text)}"
        return self._drop_lines(doc, log, reasons)


# ------------------------------------------------------------------------------------------------ repeats
def _key(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


class Repeats(Step):
    name = "repeats"
    description = "a paragraph repeated within a document keeps its first copy"

    def __init__(self, min_units: int = 15) -> None:
        self.min_units = min_units  # short lines repeat legitimately ("Exeunt.", a speaker's name)

    def __call__(self, doc: Doc, log: Log) -> Doc:
        seen: dict[str, int] = {}
        reasons = {}
        for i, line in enumerate(doc.lines):
            key = _key(line.text)
            if count_units(key) < self.min_units:
                continue
            if key in seen:
                reasons[i] = f"repeats line {seen[key] + 1}"
            else:
                seen[key] = line.no
        return self._drop_lines(doc, log, reasons)


# ------------------------------------------------------------------------------------------------ quality
class Quality(Step):
    name = "quality"
    description = "too short, too many symbols, too repetitive"

    def __init__(self, min_units: int = 20, max_symbols: float = 0.2, max_repetition: float = 0.3) -> None:
        self.min_units, self.max_symbols, self.max_repetition = min_units, max_symbols, max_repetition

    def __call__(self, doc: Doc, log: Log) -> Doc | None:
        text = doc.text
        units = count_units(text)
        problem = None
        if units < self.min_units:
            problem = f"too short: {units} units < {self.min_units}"
        elif (symbols := symbol_ratio(text)) > self.max_symbols:
            problem = f"symbol ratio {symbols:.2f} > {self.max_symbols}"
        elif (repeated := repetition(text)) > self.max_repetition:
            problem = f"repetition {repeated:.2f} > {self.max_repetition}"
        if problem:
            log(Change(self.name, doc.id, "document", problem, text))
            return None
        return doc


def symbol_ratio(text: str) -> float:
    """Share of non-space characters that are neither letters, digits nor ordinary punctuation (★, ❤, ▓ …)."""
    chars = [c for c in text if not c.isspace()]
    odd = sum(1 for c in chars if not (c.isalnum() or unicodedata.category(c).startswith("P")))
    return odd / max(len(chars), 1)


def repetition(text: str, n: int = 10) -> float:
    """Share of the text (spaces removed) covered by its most frequent character n-gram: a few percent for prose
    of any length, a large share for a phrase pasted again and again."""
    s = re.sub(r"\s+", "", text.lower())
    if len(s) < 2 * n:
        return 0.0
    top = Counter(s[i : i + n] for i in range(len(s) - n + 1)).most_common(1)[0][1]
    return min(1.0, top * n / len(s)) if top > 1 else 0.0


# ------------------------------------------------------------------------------------------ deduplication
class ExactDup(Step):
    name = "exact_dup"
    description = "the same document again, after normalisation"

    def start(self) -> None:
        self.seen: dict[str, int] = {}

    def __call__(self, doc: Doc, log: Log) -> Doc | None:
        digest = hashlib.sha1(_key(doc.text).encode()).hexdigest()
        if digest in self.seen:
            log(Change(self.name, doc.id, "document", f"same text as document {self.seen[digest]}", doc.text))
            return None
        self.seen[digest] = doc.id
        return doc


_PRIME = np.uint64(4294967311)  # the first prime above 2**32: (a*x + b) % p stays within uint64


class MinHasher:
    """MinHash signatures of character n-gram sets: the share of equal entries of two signatures estimates the
    Jaccard similarity of the two sets, whatever the documents' lengths."""

    def __init__(self, num_perm: int = 128, n: int = 5, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.a = rng.integers(1, 2**32, num_perm, dtype=np.uint64)
        self.b = rng.integers(0, 2**32, num_perm, dtype=np.uint64)
        self.n = n

    def shingles(self, text: str) -> np.ndarray:
        """32-bit hashes of every character n-gram (lowercased, whitespace removed), computed vectorised."""
        codes = np.frombuffer(re.sub(r"\s+", "", text.lower()).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        if len(codes) < self.n:
            codes = np.pad(codes, (0, self.n - len(codes)))
        h = np.zeros(len(codes) - self.n + 1, dtype=np.uint64)
        for k in range(self.n):  # polynomial hash of each window, mod 2**32
            h = (h * np.uint64(1_000_003) + codes[k : len(codes) - self.n + 1 + k]) & np.uint64(0xFFFFFFFF)
        return np.unique(h)

    def signature(self, text: str) -> np.ndarray:
        """For each of the num_perm hash functions h(x) = (a·x + b) mod p, the smallest h over the shingles."""
        x = self.shingles(text)
        sig = np.full(len(self.a), _PRIME, dtype=np.uint64)
        for start in range(0, len(x), 4096):  # in chunks: a play has ~10^5 shingles × 128 functions
            chunk = x[start : start + 4096]
            sig = np.minimum(sig, ((self.a[:, None] * chunk[None, :] + self.b[:, None]) % _PRIME).min(axis=1))
        return sig


def jaccard(a: set, b: set) -> float:
    return len(a & b) / max(len(a | b), 1)


class NearDup(Step):
    name = "near_dup"
    description = "nearly the same document again (MinHash estimate of Jaccard over character 5-grams)"

    def __init__(self, threshold: float = 0.8, num_perm: int = 128, bands: int = 32) -> None:
        # bands × rows = num_perm; a pair becomes a candidate with probability 1 - (1 - s^rows)^bands, which is
        # about 0.5 at s = (1/bands)^(1/rows) = 0.42 here and above 0.999 at s = 0.8: few misses, cheap checks.
        self.threshold, self.bands, self.rows = threshold, bands, num_perm // bands
        self.hasher = MinHasher(num_perm)

    def start(self) -> None:
        self.buckets: dict[tuple[int, bytes], int] = {}
        self.signatures: dict[int, np.ndarray] = {}

    def __call__(self, doc: Doc, log: Log) -> Doc | None:
        sig = self.hasher.signature(doc.text)
        keys = [(b, sig[b * self.rows : (b + 1) * self.rows].tobytes()) for b in range(self.bands)]
        candidates = dict.fromkeys(self.buckets[k] for k in keys if k in self.buckets)
        for other in candidates:
            similarity = float(np.mean(self.signatures[other] == sig))
            if similarity >= self.threshold:
                log(Change(self.name, doc.id, "document", f"near-duplicate of document {other} (estimated "
                           f"Jaccard {similarity:.2f} ≥ {self.threshold})", doc.text))
                return None
        for key in keys:
            self.buckets.setdefault(key, doc.id)
        self.signatures[doc.id] = sig
        return doc


# ----------------------------------------------------------------------------------------------- pipeline
@dataclass
class CleanResult:
    documents: list[str]
    changes: list[Change]
    steps: list[Step]
    n_in: int
    chars_in: int = 0
    kept_ids: list[int] = field(default_factory=list)

    def table(self) -> str:
        """Per step: documents and lines removed, lines edited, characters removed, and the most common reasons."""
        rows = ["| step | documents removed | lines removed | lines edited | characters removed (net) | top reasons |",
                "|---|---:|---:|---:|---:|---|"]
        for step in self.steps:
            mine = [c for c in self.changes if c.step == step.name]
            count = Counter(c.what for c in mine)
            chars = sum(len(c.text) - len(c.after or "") for c in mine)
            reasons = Counter(re.sub(r"\d+(\.\d+)?", "N", c.reason) for c in mine).most_common(3)
            top = "; ".join(f"{r} ({n})" for r, n in reasons)
            rows.append(f"| {step.name} | {count['document']} | {count['line']} | {count['edit']} | {chars:,} | {top} |")
        kept = sum(len(d) for d in self.documents)
        rows.append(f"| **kept** | {len(self.documents)} of {self.n_in} | | | {kept:,} of {self.chars_in:,} chars | |")
        return "\n".join(rows)


class Pipeline:
    """Steps applied in order to each document; `run` keeps the report, `stream` yields kept texts lazily."""

    def __init__(self, steps: list[Step]) -> None:
        names = [s.name for s in steps]
        if len(set(names)) != len(names):
            raise ValueError(f"step names must be unique, got {names}")
        self.steps = steps

    @classmethod
    def default(cls, languages: tuple[str, ...] = ("en", "zh"), min_units: int = 20,
                near_dup: float = 0.8) -> Pipeline:
        return cls([Normalize(), Boilerplate(), Language(languages), Repeats(), Quality(min_units), ExactDup(),
                    NearDup(near_dup)])

    def stream(self, texts: Iterable[str], log: Log | None = None) -> Iterator[tuple[int, str]]:
        """(input index, cleaned text) for each kept document; every change goes to `log`."""
        log = log or (lambda change: None)
        for step in self.steps:
            step.start()
        for i, text in enumerate(texts):
            doc: Doc | None = Doc(i, [Line(n, t) for n, t in enumerate(text.split("\n"))])
            for step in self.steps:
                doc = step(doc, log)
                if doc is not None and not doc.text.strip():
                    log(Change(step.name, i, "document", "nothing left after this step's removals", ""))
                    doc = None
                if doc is None:
                    break
            if doc is not None:  # blank lines left between removed blocks would only pad the text
                yield i, re.sub(r"\n\s*\n(\s*\n)+", "\n\n", doc.text).strip()

    def run(self, texts: Iterable[str]) -> CleanResult:
        texts = list(texts)
        changes: list[Change] = []
        kept = list(self.stream(texts, changes.append))
        return CleanResult([t for _, t in kept], changes, self.steps, len(texts), sum(map(len, texts)),
                           [i for i, _ in kept])


@dataclass
class LineView:
    """One original line of a page and what the pipeline did to it (for the cleaning widget)."""

    no: int
    text: str
    status: str  # "kept", "edited" or "removed"
    step: str = ""
    reason: str = ""
    after: str = ""


def explain(page: str, pipeline: Pipeline | None = None, before: Iterable[str] = ()) -> list[LineView]:
    """Run `page` through the pipeline (after the `before` pages, which dedup remembers) and say, line by line,
    which step removed or edited it and why."""
    pipeline = pipeline or Pipeline.default()
    pages = list(before) + [page]
    result = pipeline.run(pages)
    me = len(pages) - 1
    views = [LineView(n, t, "kept") for n, t in enumerate(page.split("\n"))]
    for change in result.changes:
        if change.doc != me:
            continue
        if change.what == "document":
            for view in views:
                if view.status != "removed":
                    view.status, view.step, view.reason = "removed", change.step, change.reason
        elif change.what == "line":
            views[change.line].status, views[change.line].step = "removed", change.step
            views[change.line].reason = change.reason
        elif views[change.line].status == "kept":
            view = views[change.line]
            view.status, view.step, view.reason, view.after = "edited", change.step, change.reason, change.after
    return views
