"""The tokenizer explorer: its pieces are the tokenizer's own tokens, partial characters show as bytes, the widget redraws."""

import pytest

from mosslite.tokenizer import FastBPE, ScratchBPE
from mosslite.widgets.tokenizer_explorer import counts_line, pieces_html, token_pieces, tokenizer_explorer

TRAIN = ["the cat sat on the mat. the dog sat on the log.\n" * 20, "我们的人民，人民的国家。我们爱人民。\n" * 20]
ENGLISH, CHINESE, EMOJI = "the cat sat on the log", "人民的国家", "ok 🙂👍"


@pytest.fixture(scope="module")
def scratch() -> ScratchBPE:
    return ScratchBPE.train(TRAIN, 320)


@pytest.mark.parametrize("text", [ENGLISH, CHINESE, EMOJI, "a  \n  b\n\n\tc"])
def test_pieces_are_the_tokens_and_their_bytes_rebuild_the_text(scratch, text):
    pieces = token_pieces(scratch, text)
    assert [i for i, _ in pieces] == scratch.encode(text)
    assert b"".join(scratch.token_bytes(i) for i, _ in pieces) == text.encode("utf-8")


def test_whole_characters_join_back_to_the_text(scratch):
    for text in (ENGLISH, CHINESE):  # every piece is whole characters: trained on both
        assert "".join(p for _, p in token_pieces(scratch, text)) == text


def test_partial_characters_show_as_escaped_bytes():
    bytes_only = ScratchBPE.train(["abc"], 256 + 6)  # no merges at all beyond bytes: 你 is three pieces
    pieces = token_pieces(bytes_only, "你")
    assert [p for _, p in pieces] == [r"\xe4", r"\xbd", r"\xa0"]
    assert [i for i, _ in pieces] == [0xE4, 0xBD, 0xA0]
    emoji = [p for _, p in token_pieces(bytes_only, "🙂")]
    assert len(emoji) == 4 and all(p.startswith(r"\x") for p in emoji)


def test_special_tokens_only_when_allowed(scratch):
    eom = scratch.special_tokens["<eom>"]
    assert eom not in [i for i, _ in token_pieces(scratch, "hi<eom>")]
    assert (eom, "<eom>") in token_pieces(scratch, "hi<eom>", allowed_special="all")


def test_html_escapes_and_colours_each_piece(scratch):
    pieces = token_pieces(scratch, "<b> & \n")
    markup = pieces_html(pieces)
    assert "<b>" not in markup.replace('<br>', "") and "&lt;" in markup
    assert markup.count("<span") == len(pieces) and "↵" in markup
    assert counts_line("人民", [(1, "人"), (2, "民")]) == "2 characters · 6 bytes · 2 tokens · 1.00 characters/token"


def test_widget_headless_redraws_on_text_and_tokenizer_change(scratch):
    fast = FastBPE(scratch.to_json())
    bytes_only = ScratchBPE.train(["abc"], 256 + 6)
    box = tokenizer_explorer({"scratch": scratch, "fast": fast, "bytes": bytes_only}, text=CHINESE)
    assert "5 characters" in box.counts.value and "scratch" in box.counts.value
    scratch_html = box.view.value
    box.dropdown.value = "fast"  # same merges, same pieces
    assert box.view.value == scratch_html and "fast" in box.counts.value
    box.dropdown.value = "bytes"
    assert "15 tokens" in box.counts.value and r"\xe4" in box.view.value
    box.textarea.value = "<eom>"
    assert "5 tokens" in box.counts.value
    box.special.value = True
    assert "1 tokens" in box.counts.value


def test_widget_needs_a_tokenizer():
    with pytest.raises(ValueError, match="at least one tokenizer"):
        tokenizer_explorer({})
