"""Chapter 1 exercises: a boilerplate filter, near-duplicate detection with MinHash, and a mixture sampler.

Replace each `raise NotImplementedError` with your code, then run `pytest exercises/ch01_data`.
The dirty pages the tests use are in `mosslite/data/dirty_pages.py`: read them first.
"""

from __future__ import annotations

from collections.abc import Callable


def strip_boilerplate(page: str) -> tuple[str, list[str]]:
    """Remove web furniture from a page; return (the cleaned page, the removed lines in order).

    Remove navigation bars ("首页 | 新闻 | 体育 …", "Home | World | …"), login links, share buttons ("分享到…",
    "Share on …"), advertisements, image captions ("图为…", "Photo: …"), footers (copyright, 责任编辑) and a
    "related news" header ("相关新闻", "Related stories") together with the list of headlines under it.
    Keep the article, including real sentences that happen to contain a keyword: "我们要推广普通话。" is not an
    advertisement. Hint: a line that ends like a finished sentence (。！？.!?) is rarely furniture.
    """
    raise NotImplementedError


def shingles(text: str, n: int = 5) -> set[str]:
    """The set of character n-grams of `text` lowercased with all whitespace removed ("ab cde", 3 -> {"abc",
    "bcd", "cde"}). A text shorter than n gives the set holding just that text."""
    raise NotImplementedError


def jaccard(a: set, b: set) -> float:
    """|a ∩ b| / |a ∪ b|, and 0.0 when both are empty."""
    raise NotImplementedError


def minhash_signature(items: set[str], num_perm: int = 128, seed: int = 0) -> list[int]:
    """A MinHash signature: for each of `num_perm` hash functions, the smallest hash over `items`.

    Make the hash functions from one good hash: h_i(x) = (a_i * H(x) + b_i) mod p, with p = 2**61 - 1, H(x) the
    first 8 bytes of hashlib.blake2b(x.encode()) as an integer, and a_i, b_i drawn once from random.Random(seed)
    (a_i in [1, p), b_i in [0, p)). Two signatures built with the same num_perm and seed are comparable.
    """
    raise NotImplementedError


def estimated_jaccard(sig_a: list[int], sig_b: list[int]) -> float:
    """The share of positions where the two signatures agree: an unbiased estimate of the Jaccard similarity."""
    raise NotImplementedError


def sample_mixture(sources: dict[str, list[str]], shares: dict[str, float], total_units: int,
                   count: Callable[[str], int] = len, seed: int = 0) -> list[tuple[str, str]]:
    """Draw whole documents from each source so that source s contributes about shares[s] * total_units units
    (as measured by `count`); return (source name, document) pairs, interleaved in a random order.

    - Raise ValueError unless the shares are positive and sum to 1 (within 1e-6).
    - Take each source's documents in an order shuffled by random.Random(seed), without repeats until every
      document of that source has been used once; then start another shuffled pass (a small source is repeated).
    - Stop a source as soon as its units reach its quota, so it overshoots by less than one document.
    - The same arguments always give the same result.
    """
    raise NotImplementedError
