"""Chapter 2 exercises: byte-level BPE in four small functions, the way minbpe teaches it (no regex, no specials).

Fill in each function; `pytest exercises/ch02_tokenization` checks them against hand-worked examples and against
`mosslite.tokenizer.ScratchBPE`, which does the same thing faster.
"""


def get_pair_counts(ids: list[int]) -> dict[tuple[int, int], int]:
    """How often each adjacent pair occurs in `ids`, overlaps included: [1, 1, 1] holds (1, 1) twice.

    Hint: `zip(ids, ids[1:])` walks the adjacent pairs.
    """
    raise NotImplementedError("count zip(ids, ids[1:])")


def merge(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """`ids` with every occurrence of `pair` replaced by `new_id`, scanning left to right without overlaps.

    Hint: walk an index i; when ids[i], ids[i + 1] is the pair, emit new_id and step 2, else emit ids[i] and step 1.
    So merge([1, 1, 1], (1, 1), 9) == [9, 1].
    """
    raise NotImplementedError("walk the list with an index, stepping 2 after a match")


def train(text: str, vocab_size: int) -> dict[tuple[int, int], int]:
    """The merges {pair: new_id} that grow 256 byte tokens to `vocab_size`, learned on the UTF-8 bytes of `text`.

    Hint: start from list(text.encode("utf-8")); for new_id = 256, 257, ... take the most frequent pair (ties go to
    the smallest pair, i.e. compare (-count, pair)), merge it everywhere, record it. Stop early if no pair is left.
    """
    raise NotImplementedError("repeat: count pairs, take the most frequent, merge it, record it")


def encode(text: str, merges: dict[tuple[int, int], int]) -> list[int]:
    """Token ids of `text`: its UTF-8 bytes, merged by always applying the earliest-learned merge present.

    Hint: while some adjacent pair is in `merges`, pick the one with the lowest new id and `merge` it. Applying merges
    in training order, not "longest match", is what makes encoding reproduce training.
    """
    raise NotImplementedError("apply the lowest-id merge present until none applies")
