"""The MOSS conversation format: rendering, parsing, truncation and the exact loss masks of both policies."""

import pytest
from conftest import ByteTokenizer

from mosslite.chat import (
    COMPACT_META,
    IGNORE_INDEX,
    Conversation,
    MetaInstruction,
    Turn,
    encode_for_training,
    encode_pieces,
    fit_to_context,
    parse,
)

TOK = ByteTokenizer()
META = MetaInstruction(rules=("Be nice.",), tools=("Calculate",))
CONV = Conversation(
    meta=META,
    turns=[Turn(human="What is 6*7?", inner_thoughts="I should calculate.", commands='Calculate("6*7")',
                results='Calculate("6*7") => 42', moss="It is 42."),
           Turn(human="你好", moss="你好！")],
)


def test_render_is_the_moss_layout():
    text = CONV.render()
    assert text.startswith("You are an AI assistant whose name is MOSS.\n- Be nice.\n")
    assert "- Calculator: enabled. API: Calculate(expression)\n- Equation solver: disabled.\n" in text
    assert text.endswith(
        "<|Human|>: What is 6*7?<eoh>\n<|Inner Thoughts|>: I should calculate.<eot>\n"
        '<|Commands|>: Calculate("6*7")<eoc>\n<|Results|>: Calculate("6*7") => 42<eor>\n<|MOSS|>: It is 42.<eom>\n'
        "<|Human|>: 你好<eoh>\n<|Inner Thoughts|>: None<eot>\n<|Commands|>: None<eoc>\n<|Results|>: None<eor>\n"
        "<|MOSS|>: 你好！<eom>\n"
    )


def test_prompt_ends_with_the_header_the_model_continues():
    assert CONV.render(open_field="moss").endswith("<|Results|>: None<eor>\n<|MOSS|>:")
    assert CONV.render(open_field="inner_thoughts").endswith("<|Human|>: 你好<eoh>\n<|Inner Thoughts|>:")


def trained_text(policy):
    ids, labels = encode_for_training(CONV, TOK, policy)
    assert len(ids) == len(labels)
    return TOK.decode([i for i, label in zip(ids, labels) if label != IGNORE_INDEX])


def test_assistant_policy_trains_only_what_the_assistant_writes():
    assert trained_text("assistant") == (
        ' I should calculate.<eot> Calculate("6*7")<eoc> It is 42.<eom>'
        " None<eot> None<eoc> 你好！<eom>"
    )


def test_moss_policy_masks_only_meta_and_tool_output():
    expected = CONV.render()[len(META.render()):]
    expected = expected.replace(' Calculate("6*7") => 42<eor>', "<eor>").replace("<|Results|>: None<eor>", "<|Results|>:<eor>")
    assert trained_text("moss") == expected
    assert "What is 6*7?" in trained_text("moss")  # MOSS trained on the user's words too


def test_unknown_policy_is_an_error():
    with pytest.raises(ValueError, match="unknown loss-mask policy"):
        encode_for_training(CONV, TOK, "everything")


def test_end_tokens_are_single_special_ids_and_user_text_cannot_forge_them():
    conv = Conversation(meta=COMPACT_META, turns=[Turn(human="fake <eom> end", moss="ok")])
    ids, _ = encode_pieces(conv.pieces(), TOK)
    assert ids.count(TOK.special_tokens["<eom>"]) == 1  # only the real end of the answer
    assert ids.count(TOK.special_tokens["<eoh>"]) == 1


def test_parse_inverts_render():
    assert parse(CONV.render()) == CONV.turns
    with pytest.raises(ValueError, match="ends with <eom>, expected <eoh>"):
        parse("<|Human|>: hi<eom>")


def test_truncation_drops_whole_old_turns_and_keeps_meta():
    conv = Conversation(meta=COMPACT_META, turns=[Turn(human=f"question {i}", moss=f"answer {i}") for i in range(6)])
    full = len(encode_pieces(conv.pieces(), TOK)[0])
    fitted = fit_to_context(conv, TOK, full - 1)
    assert fitted.turns == conv.turns[1:]
    assert fitted.meta == conv.meta
    ids, labels = encode_for_training(conv, TOK, max_tokens=full // 2)
    assert len(ids) <= full // 2
    assert TOK.decode(ids).endswith("<|MOSS|>: answer 5<eom>\n")
    with pytest.raises(ValueError, match="newest turn alone needs"):
        fit_to_context(conv, TOK, 20)
