"""Chapter 5's widgets, driven headless: the loss-mask colours are the policy's labels; the chat panel streams."""

import re

import pytest
import torch
from conftest import ByteTokenizer

from mosslite.assistant import Assistant
from mosslite.chat import (
    COMPACT_META,
    IGNORE_INDEX,
    Conversation,
    MetaInstruction,
    Turn,
    encode_for_training,
)
from mosslite.config import get_config
from mosslite.model import build_model, lm_loss
from mosslite.tokenizer import train_tokenizer
from mosslite.tools import Toolbox
from mosslite.widgets.chat_panel import ChatPanel, sampling_from
from mosslite.widgets.loss_mask import LOSS_COLOUR, MASKED_COLOUR, loss_mask_viewer, mask_html, mask_tokens

TOOL_META = MetaInstruction(rules=(), tools=("Calculate",), inner_thoughts=True)
LESSON = Turn(human="What is 1234*5678?", inner_thoughts="I should calculate.", commands='Calculate("1234*5678")',
              results='Calculate("1234*5678") => 7006652', moss="It is 7006652.")
CHAT = Conversation(meta=COMPACT_META, turns=[Turn(human="Who are you?", moss="I am MOSS."),
                                              Turn(human="你好", moss="你好！有什么可以帮你？")])
TOOLS = Conversation(meta=TOOL_META, turns=[LESSON])
BOXES = re.compile(r'<span data-loss="([01])" title="[^"]*" style="[^"]*background:(#[0-9a-f]{6});')


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def bpe():
    return train_tokenizer([CHAT.render(), TOOLS.render()] * 5, 320)


# ---------------------------------------------------------------------------------------------------- loss mask
@pytest.mark.parametrize("policy", ["moss", "assistant"])
@pytest.mark.parametrize("conversation", [CHAT, TOOLS], ids=["chat", "tools"])
@pytest.mark.parametrize("tokenizer", ["bytes", "bpe"])
def test_mask_colours_are_the_policy_labels(policy, conversation, tokenizer, bpe):
    tok = ByteTokenizer() if tokenizer == "bytes" else bpe
    ids, labels = encode_for_training(conversation, tok, policy)
    assert [t.id for t in mask_tokens(conversation, tok, policy)] == ids
    boxes = BOXES.findall(mask_html(conversation, tok, policy))
    assert [flag == "1" for flag, _ in boxes] == [label != IGNORE_INDEX for label in labels]
    assert [colour for _, colour in boxes] == [LOSS_COLOUR if label != IGNORE_INDEX else MASKED_COLOUR
                                               for label in labels]


def test_policies_differ_exactly_on_the_users_words_and_headers():
    tok = ByteTokenizer()
    moss, assistant = (mask_tokens(CHAT, tok, p) for p in ("moss", "assistant"))
    differ = "".join(m.text for m, a in zip(moss, assistant) if m.trains != a.trains)
    assert "Who are you?" in differ and "<|Human|>:" in differ and "<|MOSS|>:" in differ
    assert "I am MOSS." not in differ  # the answer trains under both
    assert not any(t.trains for t in moss if t.kind == "meta")


def test_viewer_redraws_on_policy_and_conversation(bpe):
    viewer = loss_mask_viewer({"chat": CHAT, "tools": TOOLS}, bpe, policy="moss")
    moss_view = viewer.view.value
    viewer.policy.value = "assistant"
    assert viewer.view.value == mask_html(CHAT, bpe, "assistant") != moss_view
    viewer.picker.value = "tools"
    assert viewer.view.value == mask_html(TOOLS, bpe, "assistant")


# --------------------------------------------------------------------------------------------------- chat panel
@pytest.fixture(scope="module")
def taught():
    """A toy model that has memorised LESSON, so the panel's stream has a known content."""
    torch.manual_seed(0)
    tok = ByteTokenizer()
    model = build_model(get_config("toy", vocab_size=262, block_size=512, n_embd=128))
    ids, labels = encode_for_training(TOOLS, tok, policy="assistant")
    x, y = torch.tensor([ids[:-1]]), torch.tensor([labels[1:]])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(150):
        loss = lm_loss(model(x), y)
        if loss.item() < 0.02:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), tok


def test_streamed_reply_appears_field_by_field(taught):
    model, tok = taught
    panel = ChatPanel(Assistant(model, tok, toolbox=Toolbox(), meta=TOOL_META, max_new_tokens=40), temperature=0.0)
    snapshots, seen = [], []
    panel.listeners.append(lambda event: (seen.append(event), snapshots.append(panel.view.value)))
    panel.input.value = "What is 1234*5678?"  # as pressing Enter does
    assert panel.input.value == ""
    turn = panel.conversation.turns[-1]
    assert turn.moss == "It is 7006652." and "It is 7006652." in panel.view.value
    assert 'Calculate(&quot;1234*5678&quot;) =&gt; 7006652' in panel.view.value  # the runtime's tool result
    moss_deltas = [e for e in seen if e.field == "moss" and not e.done]
    assert len(moss_deltas) > 3  # streamed piece by piece, not in one block
    # Each streamed event redraws the view before the next arrives (listeners run before the redraw).
    partial = [s for s, e in zip(snapshots[1:], seen) if e.field == "moss" and not e.done]
    assert any("It is" in s and "7006652.</span>" not in s for s in partial)
    panel.show_fields.value = False
    assert "7006652" in panel.view.value and "Calculate(" not in panel.view.value


def test_raw_prompt_toggle_shows_the_prompt_ending_in_the_moss_header(taught):
    model, tok = taught
    panel = ChatPanel(Assistant(model, tok, toolbox=Toolbox(), meta=TOOL_META, max_new_tokens=40), temperature=0.0)
    panel.send("What is 1234*5678?")
    assert panel.prompt_view.value == ""
    panel.show_prompt.value = True
    shown = re.search(r"<pre[^>]*>(.*)</pre>", panel.prompt_view.value, re.DOTALL)[1]
    assert shown.endswith("&lt;eor&gt;\n&lt;|MOSS|&gt;:")
    assert panel.raw_prompt() == panel.conversation.render(open_field="moss")
    assert panel.raw_prompt().startswith(TOOL_META.render()) and panel.raw_prompt().endswith("<|MOSS|>:")


def test_random_model_streams_with_sampling_and_reset_forgets(bpe):
    torch.manual_seed(0)
    model = build_model(get_config("toy", vocab_size=bpe.vocab_size, block_size=512)).eval()
    assistant = Assistant(model, bpe, meta=COMPACT_META, max_new_tokens=12, seed=0)
    panel = ChatPanel(assistant, title="random weights", temperature=1.0, top_k=50, top_p=0.9)
    assert panel.sampling() == sampling_from(1.0, 50, 0.9)
    panel.send("你好")
    panel.send("Who are you?")
    assert assistant.sampling.temperature == 1.0 and assistant.sampling.top_k == 50
    assert [t.human for t in panel.conversation.turns] == ["你好", "Who are you?"]
    assert len(panel.transcript) == 2 and "Who are you?" in panel.view.value
    panel.reset_button.click()
    assert panel.conversation.turns == [] and panel.transcript == [] and "Who are you?" not in panel.view.value


def test_too_long_message_is_reported_not_kept(bpe):
    model = build_model(get_config("toy", vocab_size=bpe.vocab_size, block_size=128)).eval()
    panel = ChatPanel(Assistant(model, bpe, meta=COMPACT_META, max_new_tokens=8))
    assert panel.send("x " * 400) is None
    assert "newest turn alone needs" in panel.status.value
    assert panel.conversation.turns == [] and panel.transcript == []


def test_sliders_map_to_sampling_off_values():
    config = sampling_from(0.0, 0, 1.0)
    assert config.temperature == 0 and config.top_k is None and config.top_p is None
