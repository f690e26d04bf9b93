"""Reference solutions for chapter 1 (data)."""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable

_FINISHED = re.compile(r"[。！？.!?][”\"']?\s*$")
_FURNITURE = re.compile(
    r"^(?:首页|主页|Home)\b|(?:\S{1,8}\s*[|>»]\s*){3,}|^(?:登录|注册|Sign in|Subscribe)|分享到|Share on|扫一扫|"
    r"广告|Advertisement|点击进入|^图为|^Photo:|版权所有|Copyright|©|责任编辑|Privacy Policy")
_RELATED = re.compile(r"^\W*(?:相关(?:新闻|阅读)|Related(?: stories| news)?|推荐阅读)\W*$", re.I)


def strip_boilerplate(page: str) -> tuple[str, list[str]]:
    kept, removed = [], []
    in_list = False
    for line in page.split("\n"):
        if _RELATED.match(line):
            in_list = True
        elif in_list and (_FINISHED.search(line) or len(line) > 80):
            in_list = False
        anchored = re.match(r"^(?:图为|Photo:)", line) or re.search(r"版权所有|Copyright|©", line)
        furniture = _FURNITURE.search(line) and (anchored or not _FINISHED.search(line))
        (removed if in_list or furniture else kept).append(line)
    return "\n".join(kept), removed


def shingles(text: str, n: int = 5) -> set[str]:
    s = re.sub(r"\s+", "", text.lower())
    return {s[i : i + n] for i in range(len(s) - n + 1)} if len(s) >= n else {s}


def jaccard(a: set, b: set) -> float:
    union = a | b
    return len(a & b) / len(union) if union else 0.0


_P = 2**61 - 1


def minhash_signature(items: set[str], num_perm: int = 128, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    params = [(rng.randrange(1, _P), rng.randrange(0, _P)) for _ in range(num_perm)]
    hashes = [int.from_bytes(hashlib.blake2b(x.encode()).digest()[:8], "little") for x in items]
    return [min((a * h + b) % _P for h in hashes) for a, b in params]


def estimated_jaccard(sig_a: list[int], sig_b: list[int]) -> float:
    return sum(x == y for x, y in zip(sig_a, sig_b)) / len(sig_a)


def sample_mixture(sources: dict[str, list[str]], shares: dict[str, float], total_units: int,
                   count: Callable[[str], int] = len, seed: int = 0) -> list[tuple[str, str]]:
    if not shares or abs(sum(shares.values()) - 1) > 1e-6 or min(shares.values()) <= 0:
        raise ValueError(f"shares must be positive and sum to 1, got {shares}")
    rng = random.Random(seed)
    out = []
    for name, share in shares.items():
        docs, quota, taken = sources[name], share * total_units, 0
        while taken < quota:
            order = docs[:]
            rng.shuffle(order)
            for doc in order:
                if taken >= quota:
                    break
                out.append((name, doc))
                taken += count(doc)
    rng.shuffle(out)
    return out
