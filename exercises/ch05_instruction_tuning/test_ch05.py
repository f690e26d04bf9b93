"""Frozen tests for chapter 5: rendering a MOSS conversation, its loss masks under both policies, a LoRA layer."""

import pytest
import torch
from torch import nn

from mosslite import lora
from mosslite.chat import (
    COMPACT_META,
    FIELDS,
    IGNORE_INDEX,
    Conversation,
    MetaInstruction,
    Turn,
    encode_for_training,
)
from mosslite.tokenizer import train_tokenizer

SPECIALS = ["<|endoftext|>", "<eoh>", "<eom>", "<eot>", "<eoc>", "<eor>"]
TOOL_TURN = Turn(human="What is 6*7?", inner_thoughts="I should calculate.", commands='Calculate("6*7")',
                 results='Calculate("6*7") => 42', moss="It is 42.")
CONVERSATIONS = {
    "one turn": Conversation(meta=COMPACT_META, turns=[Turn(human="Hi", moss="Hello! How can I help?")]),
    "tools and Chinese": Conversation(meta=MetaInstruction(rules=("Be nice.",), tools=("Calculate",)),
                                      turns=[TOOL_TURN, Turn(human="你好", moss="你好！")]),
    "verbatim meta": Conversation(meta=MetaInstruction(text="You are MOSS."),
                                  turns=[Turn(human="a", moss="b"), Turn(human="c", moss="d")]),
}


class Bytes:
    """UTF-8 bytes as ids 0-255 and the special tokens after them."""

    special_tokens = {tok: 256 + i for i, tok in enumerate(SPECIALS)}

    def encode(self, text, allowed_special="none"):
        return list(text.encode("utf-8"))


@pytest.fixture(scope="module")
def bpe():
    return train_tokenizer([c.render() for c in CONVERSATIONS.values()] * 4, 300)


# ------------------------------------------------------------------------------------------------------ render
def test_render_one_turn_exactly(impl):
    conversation = Conversation(meta=MetaInstruction(text="You are MOSS."), turns=[Turn(human="Hi", moss="Hello!")])
    assert impl.render(conversation) == (
        "You are MOSS.\n<|Human|>: Hi<eoh>\n<|Inner Thoughts|>: None<eot>\n<|Commands|>: None<eoc>\n"
        "<|Results|>: None<eor>\n<|MOSS|>: Hello!<eom>\n")


@pytest.mark.parametrize("name", CONVERSATIONS)
@pytest.mark.parametrize("open_field", [None, *FIELDS])
def test_render_matches_the_library(impl, name, open_field):
    conversation = CONVERSATIONS[name]
    assert impl.render(conversation, open_field) == conversation.render(open_field)


def test_prompt_ends_in_the_runtime_written_header(impl):
    assert impl.render(CONVERSATIONS["tools and Chinese"], "moss").endswith("<|Results|>: None<eor>\n<|MOSS|>:")


# --------------------------------------------------------------------------------------------------- loss masks
def trained(conversation, policy, impl):
    ids, labels = impl.loss_mask(conversation, Bytes(), policy)
    assert len(ids) == len(labels)
    names = {v: k for k, v in Bytes.special_tokens.items()}
    out, buf = [], bytearray()
    for label in labels:
        if label == IGNORE_INDEX:
            continue
        if label in names:
            out.append(buf.decode() + names[label])
            buf = bytearray()
        else:
            buf.append(label)
    return "".join(out) + buf.decode()


def test_assistant_policy_trains_only_what_the_assistant_writes(impl):
    assert trained(Conversation(meta=MetaInstruction(text="M"), turns=[TOOL_TURN]), "assistant", impl) == (
        ' I should calculate.<eot> Calculate("6*7")<eoc> It is 42.<eom>')


def test_moss_policy_masks_only_the_meta_instruction_and_tool_output(impl):
    assert trained(Conversation(meta=MetaInstruction(text="M"), turns=[TOOL_TURN]), "moss", impl) == (
        "<|Human|>: What is 6*7?<eoh>\n<|Inner Thoughts|>: I should calculate.<eot>\n"
        '<|Commands|>: Calculate("6*7")<eoc>\n<|Results|>:<eor>\n<|MOSS|>: It is 42.<eom>\n')


@pytest.mark.parametrize("name", CONVERSATIONS)
@pytest.mark.parametrize("policy", ["moss", "assistant"])
@pytest.mark.parametrize("tokenizer", ["bytes", "bpe"])
def test_loss_mask_matches_the_library(impl, bpe, name, policy, tokenizer):
    tok = Bytes() if tokenizer == "bytes" else bpe
    conversation = CONVERSATIONS[name]
    assert impl.loss_mask(conversation, tok, policy) == encode_for_training(conversation, tok, policy)


def test_unknown_policy_is_an_error(impl):
    with pytest.raises(ValueError):
        impl.loss_mask(CONVERSATIONS["one turn"], Bytes(), "everything")


# ---------------------------------------------------------------------------------------------------------- LoRA
@pytest.mark.parametrize("bias", [True, False])
def test_lora_starts_as_the_base_and_trains_only_a_and_b(impl, bias):
    torch.manual_seed(0)
    base = nn.Linear(24, 40, bias=bias)
    layer = impl.LoRALinear(base, rank=4, alpha=8.0)
    x = torch.randn(3, 5, 24)
    torch.testing.assert_close(layer(x), base(x))
    assert layer.lora_a.shape == (4, 24) and layer.lora_b.shape == (40, 4) and layer.scale == 2.0
    trainable = {n for n, p in layer.named_parameters() if p.requires_grad}
    assert trainable == {"lora_a", "lora_b"}
    assert sum(p.numel() for p in layer.parameters() if p.requires_grad) == 4 * (24 + 40)
    layer(x).sum().backward()
    assert layer.lora_b.grad is not None and base.weight.grad is None


def test_lora_forward_and_merge_match_the_library(impl):
    torch.manual_seed(0)
    base = nn.Linear(32, 48)
    mine, reference = impl.LoRALinear(base, rank=8, alpha=16.0), lora.LoRALinear(base, rank=8, alpha=16.0)
    a, b = torch.randn(8, 32) * 0.2, torch.randn(48, 8) * 0.05  # an update the size training gives
    with torch.no_grad():
        for layer in (mine, reference):
            layer.lora_a.copy_(a)
            layer.lora_b.copy_(b)
    x = torch.randn(4, 32)
    torch.testing.assert_close(mine(x), reference(x))
    merged = mine.merge()
    assert type(merged) is nn.Linear and merged.weight.shape == (48, 32)
    with torch.no_grad():
        assert (merged(x) - mine(x)).abs().max() <= 1e-5
        torch.testing.assert_close(merged.bias, base.bias)
        assert not torch.allclose(merged.weight, base.weight)  # the update is folded in, the base left as it was
